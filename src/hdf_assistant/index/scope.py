"""What one request may read, and the index as that request sees it.

A :class:`Scope` names the collections (first-level folders of the corpus, see
``schema.collection_of``) a request may read and, when it narrows further, the
files. Each store applies it inside its own queries (``SearchIndex.search``,
``keyword_search``, ``keyword_scores``, ``document_scores``,
``document_frequency``, ``count`` take it): a FAISS ``IDSelector`` over the
allowed passages for the local store, ``collection = ANY(...)`` in the same SQL
as pgvector's ordering for PostgreSQL. A passage outside the scope is never
ranked, so it cannot be quoted, cited, counted or shown; BM25's statistics
(number of passages, document frequencies) are those of the scope's passages,
so scores do not reveal which words the other collections hold.

:class:`ScopedIndex` is the index seen through a scope: the retrievers and the
answerer take it like any ``SearchIndex`` and never see the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hdf_assistant.index.documents import DocumentScores
from hdf_assistant.index.manifest import Manifest
from hdf_assistant.schema import Chunk, ScoredChunk, collection_of

if TYPE_CHECKING:
    from hdf_assistant.index.backend import SearchIndex


@dataclass(frozen=True)
class Scope:
    """The collections a request may read, and (``sources``) the only files it asks about."""

    collections: frozenset[str]
    sources: frozenset[str] | None = None

    @classmethod
    def of(cls, collections: Iterable[str], sources: Iterable[str] | None = None) -> Scope:
        return cls(frozenset(collections), None if sources is None else frozenset(sources))

    def allows(self, source: str) -> bool:
        """Whether the file ``source`` is inside the scope."""
        if self.sources is not None and source not in self.sources:
            return False
        return collection_of(source) in self.collections

    def mask(self, sources: Sequence[str]) -> np.ndarray:
        """One boolean per file of ``sources``: inside the scope or not."""
        return np.fromiter((self.allows(s) for s in sources), dtype=bool, count=len(sources))

    @property
    def key(self) -> str:
        """A short stable name of the scope (caches, versions)."""
        text = "|".join(sorted(self.collections)) + "#" + ("*" if self.sources is None else "|".join(sorted(self.sources)))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def sql_sources(self) -> list[str] | None:
        """The files as a SQL array parameter (None: no narrowing to files)."""
        return None if self.sources is None else sorted(self.sources)


def scoped_document_scores(scores: DocumentScores | None, scope: Scope | None) -> DocumentScores | None:
    """``scores`` of the files inside ``scope`` only (the others are not ranked, not even as neighbours)."""
    if scores is None or scope is None:
        return scores
    keep = [i for i, name in enumerate(scores.names) if scope.allows(name)]
    names = [scores.names[i] for i in keep]
    return DocumentScores(names, {n: i for i, n in enumerate(names)}, scores.values[keep])


class ScopedIndex:
    """An index seen through a :class:`Scope` (a ``SearchIndex``): only the scope's passages exist."""

    def __init__(self, base: SearchIndex, scope: Scope) -> None:
        self._base = base
        self.scope = scope
        files = {name: entry for name, entry in base.manifest.files.items() if scope.allows(name)}
        skipped = {name: why for name, why in base.manifest.skipped.items() if scope.allows(name)}
        self._manifest = base.manifest.model_copy(update={"files": files, "skipped": skipped})
        self._size: int | None = None

    @property
    def manifest(self) -> Manifest:
        """The manifest of the scope's files only."""
        return self._manifest

    @property
    def version(self) -> str:
        """The base version and the scope: caches keyed by it never mix two scopes."""
        return f"{self._base.version}@{self.scope.key}"

    @property
    def size(self) -> int:
        if self._size is None:
            self._size = self._base.count(self.scope)
        return self._size

    @property
    def has_document_vectors(self) -> bool:
        return self._base.has_document_vectors

    def count(self, scope: Scope | None = None) -> int:
        return self.size if scope is None else self._base.count(_narrower(self.scope, scope))

    def chunk(self, chunk_id: str) -> Chunk:
        found = self._base.chunk(chunk_id)
        if not self.scope.allows(found.source):
            raise KeyError(chunk_id)
        return found

    def chunk_ids_of(self, source: str) -> list[str]:
        return self._base.chunk_ids_of(source) if self.scope.allows(source) else []

    def sources(self) -> list[str]:
        return [s for s in self._base.sources() if self.scope.allows(s)]

    def page_text(self, source: str, page: int | None) -> str:
        return self._base.page_text(source, page) if self.scope.allows(source) else ""

    def source_text(self, source: str) -> str:
        return self._base.source_text(source) if self.scope.allows(source) else ""

    def search(self, vector: np.ndarray, k: int, scope: Scope | None = None) -> list[ScoredChunk]:
        return self._base.search(vector, k, scope=_narrower(self.scope, scope))

    def dense_scores(self, vector: np.ndarray, chunk_ids: Sequence[str]) -> np.ndarray:
        allowed = [cid for cid in chunk_ids if self._allows_id(cid)]
        scores = dict(zip(allowed, self._base.dense_scores(vector, allowed))) if allowed else {}
        return np.array([scores.get(cid, 0.0) for cid in chunk_ids], dtype=np.float32)

    def _allows_id(self, chunk_id: str) -> bool:
        try:
            return self.scope.allows(self._base.chunk(chunk_id).source)
        except KeyError:
            return False

    def document_scores(self, vector: np.ndarray, scope: Scope | None = None) -> DocumentScores | None:
        return self._base.document_scores(vector, scope=_narrower(self.scope, scope))

    def keyword_search(self, question: str, k: int, scope: Scope | None = None) -> list[ScoredChunk]:
        return self._base.keyword_search(question, k, scope=_narrower(self.scope, scope))

    def keyword_scores(self, question: str, chunk_ids: Sequence[str], scope: Scope | None = None) -> np.ndarray:
        return self._base.keyword_scores(question, chunk_ids, scope=_narrower(self.scope, scope))

    def document_frequency(self, terms: Sequence[str], scope: Scope | None = None) -> dict[str, int]:
        return self._base.document_frequency(terms, scope=_narrower(self.scope, scope))


def _narrower(outer: Scope, inner: Scope | None) -> Scope:
    """What both scopes allow."""
    if inner is None:
        return outer
    sources: Collection[str] | None
    if outer.sources is None:
        sources = inner.sources
    elif inner.sources is None:
        sources = outer.sources
    else:
        sources = outer.sources & inner.sources
    return Scope.of(outer.collections & inner.collections, sources)
