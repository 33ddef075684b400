"""The local backend: one index directory on this machine, FAISS + bm25s.

A state directory holds (see state.py for the switch between states)::

    manifest.json        the contract (manifest.py)
    vectors.faiss        exact FAISS index of the passage vectors (faiss_vectors.py)
    ann.faiss            from 50,000 passages on: IVF index of the same ids (8-bit codes)
    ann-recent.faiss     passages added since the IVF index was trained
    passages/            one file of passages and one of their terms per source (passages.py)
    passages.npz         the table of every passage: id, FAISS id, source, row
    bm25/                bm25s index of the same passages (keyword.py)
    documents.npy/.json  one vector per file (documents.py)

:class:`LocalIndex` is one state, edited by the builder (everything in
memory, :meth:`LocalBackend.edit`) and committed as a new state, or opened
for reading by the assistant (:meth:`LocalBackend.open`): then it is lean, so
that a serving process stays small at a million passages: passages viewed
from their files (passages.py), BM25 arrays mapped from disk (keyword.py),
and from 50,000 passages on only the IVF index's 8-bit codes in memory
(faiss_vectors.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hdf_assistant.errors import IndexCorruptError, IndexMissingError
from hdf_assistant.index.bookkeeping import Bookkeeping
from hdf_assistant.index.documents import DocumentScores, DocumentVectors
from hdf_assistant.index.faiss_vectors import FaissVectors, selector_of
from hdf_assistant.index.keyword import KeywordIndex
from hdf_assistant.index.manifest import MANIFEST_FILE, REBUILD, Manifest, parse_manifest
from hdf_assistant.index.passages import PassageStore, PassageView
from hdf_assistant.index.scope import Scope, scoped_document_scores
from hdf_assistant.index.state import (
    current_state_dir,
    index_lock,
    new_state_dir,
    publish_state,
    remove_unfinished,
)
from hdf_assistant.ingest.chunking import DOCUMENT_VECTOR_VERSION
from hdf_assistant.schema import Chunk, ScoredChunk

log = logging.getLogger(__name__)

#: scopes (see scope.py) whose allowed passages a reader remembers
SCOPE_CACHE = 64
#: a scope of at most this many passages in an index searched through IVF is searched exactly, over its own
#: vectors held in memory (faster than the filtered IVF scan, and exact: benchmarks/README.md, "Filtered
#: retrieval"); the vectors of all the scopes remembered stay under SCOPE_VECTORS_MB
SCOPE_EXACT_MAX = 50_000
SCOPE_VECTORS_MB = 256


@dataclass(frozen=True)
class _Allowed:
    """The passages of one scope: for FAISS (a selector of their ids; or, small in a large index, their
    vectors) and for BM25 (a mask)."""

    selector: Any
    keyword_mask: np.ndarray
    count: int
    share: float
    faiss_ids: np.ndarray
    vectors: np.ndarray | None = None


class LocalIndex(Bookkeeping):
    """One state of a local index (implements ``SearchIndex`` and ``WritableIndex``)."""

    def __init__(
        self,
        manifest: Manifest,
        vectors: FaissVectors,
        passages: PassageStore | PassageView,
        keyword: KeywordIndex,
        documents: DocumentVectors,
        index_dir: Path,
        version: str = "",
    ) -> None:
        self._manifest = manifest
        self._vectors = vectors
        self._passages = passages
        self._keyword = keyword
        self._documents = documents
        self._index_dir = index_dir
        self._version = version
        self._keyword_stale = False
        self._scopes: dict[Scope, _Allowed] = {}
        self._scopes_lock = threading.Lock()

    @classmethod
    def empty(cls, manifest: Manifest, index_dir: Path) -> LocalIndex:
        return cls(manifest, FaissVectors.empty(manifest.dim), PassageStore(), KeywordIndex.build([], []),
                   DocumentVectors(), index_dir)

    # -- reading -------------------------------------------------------------
    @property
    def manifest(self) -> Manifest:
        return self._manifest

    @property
    def version(self) -> str:
        """Name of the state this is (changes with every commit)."""
        return self._version

    @property
    def size(self) -> int:
        return len(self._passages)

    @property
    def has_document_vectors(self) -> bool:
        return len(self._documents) > 0

    @property
    def uses_approximate_search(self) -> bool:
        return self._vectors.approximate is not None

    def chunk(self, chunk_id: str) -> Chunk:
        return self._passages.chunk(chunk_id)

    def chunk_ids_of(self, source: str) -> list[str]:
        return self._passages.chunk_ids_of(source)

    def sources(self) -> list[str]:
        return self._passages.sources()

    def page_text(self, source: str, page: int | None) -> str:
        return self._passages.page_text(source, page)

    def source_text(self, source: str) -> str:
        return self._passages.source_text(source)

    def vectors_of(self, chunk_ids: Sequence[str]) -> np.ndarray:
        return self._vectors.get(np.array([self._passages.faiss_id(c) for c in chunk_ids], dtype=np.int64))

    def document_vector(self, source: str) -> np.ndarray | None:
        return self._documents.vector(source) if source in self._documents else None

    def _allowed(self, scope: Scope) -> _Allowed:
        """The passages ``scope`` allows, worked out once per scope and state."""
        found = self._scopes.get(scope)
        if found is not None:
            return found
        sources, source_of, faiss_ids, ids = self._passages.arrays()
        rows = scope.mask(sources)[source_of] if len(sources) else np.zeros(0, dtype=bool)
        count = int(rows.sum())
        allowed_ids = np.ascontiguousarray(faiss_ids[rows], dtype=np.int64)
        vectors = None
        if self._vectors.approximate is not None and count <= SCOPE_EXACT_MAX:
            vectors = np.ascontiguousarray(self._vectors.exact_vectors(allowed_ids))
        found = _Allowed(selector_of(allowed_ids), self._keyword.mask_of(ids[rows]), count,
                         count / max(1, len(rows)), allowed_ids, vectors)
        with self._scopes_lock:
            held = sum(a.vectors.nbytes for a in self._scopes.values() if a.vectors is not None)
            if len(self._scopes) >= SCOPE_CACHE or held + (vectors.nbytes if vectors is not None else 0) > \
                    SCOPE_VECTORS_MB * 2**20:
                self._scopes.clear()
            self._scopes[scope] = found
        return found

    def _forget_scopes(self) -> None:
        with self._scopes_lock:
            self._scopes = {}

    def count(self, scope: Scope | None = None) -> int:
        return self.size if scope is None else self._allowed(scope).count

    def search(self, vector: np.ndarray, k: int, scope: Scope | None = None, exact: bool = False) -> list[ScoredChunk]:
        if self.size == 0 or k <= 0:
            return []
        if scope is None:
            scores, ids = self._vectors.search(vector, k, exact=exact)
        else:
            allowed = self._allowed(scope)
            if not allowed.count:
                return []
            if allowed.vectors is not None:  # small scope, large index: exact over its own vectors
                scores, ids = _top(allowed.vectors @ np.asarray(vector, dtype=np.float32).reshape(-1),
                                   allowed.faiss_ids, k)
            else:
                scores, ids = self._vectors.search(vector, k, exact=exact, selector=allowed.selector,
                                                   share=allowed.share)
        hits = []
        for score, fid in zip(scores, ids):
            cid = self._passages.chunk_id_at(int(fid)) if fid >= 0 else None
            if cid is not None:
                hits.append(ScoredChunk(self._passages.chunk(cid), float(score)))
        return hits

    def search_exact(self, vector: np.ndarray, k: int, scope: Scope | None = None) -> list[ScoredChunk]:
        """The exact ``k`` nearest passages, even where an IVF index answers ``search``."""
        return self.search(vector, k, exact=True, scope=scope)

    def dense_scores(self, vector: np.ndarray, chunk_ids: Sequence[str]) -> np.ndarray:
        if not chunk_ids:
            return np.zeros(0, dtype=np.float32)
        return self.vectors_of(chunk_ids) @ np.asarray(vector, dtype=np.float32).reshape(-1)

    def document_scores(self, vector: np.ndarray, scope: Scope | None = None) -> DocumentScores | None:
        return scoped_document_scores(self._documents.scores(vector), scope) if len(self._documents) else None

    def _mask(self, scope: Scope | None) -> np.ndarray | None:
        return None if scope is None else self._allowed(scope).keyword_mask

    def keyword_search(self, question: str, k: int, scope: Scope | None = None) -> list[ScoredChunk]:
        return [ScoredChunk(self._passages.chunk(cid), score)
                for cid, score in self._keyword.top(question, k, self._mask(scope))]

    def keyword_scores(self, question: str, chunk_ids: Sequence[str], scope: Scope | None = None) -> np.ndarray:
        return self._keyword.scores_of(question, chunk_ids, self._mask(scope))

    def document_frequency(self, terms: Sequence[str], scope: Scope | None = None) -> dict[str, int]:
        return self._keyword.document_frequency(terms, self._mask(scope))

    # -- writing -------------------------------------------------------------
    def _store(self) -> PassageStore:
        """The editable passages (an index opened for reading has none)."""
        if not isinstance(self._passages, PassageStore) or not self._vectors.writable:
            raise RuntimeError("this index was opened for reading: edit it through LocalBackend.edit()")
        return self._passages

    def replace_source(self, source: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        self._remove(source)
        self._add(chunks, vectors)

    def _add(self, chunks: Sequence[Chunk], vectors: np.ndarray, terms: Sequence[list[str]] | None = None) -> None:
        if not chunks:
            return
        store = self._store()
        start = self._manifest.next_id
        ids = np.arange(start, start + len(chunks), dtype=np.int64)
        self._update_manifest(next_id=start + len(chunks))
        self._vectors.add(vectors, ids)
        store.add(chunks, ids.tolist(), terms)
        self._keyword_stale = True
        self._forget_scopes()

    def _remove(self, source: str) -> int:
        removed = self._store().remove_source(source)
        self._vectors.remove(np.array(removed, dtype=np.int64))
        if removed:
            self._keyword_stale = True
            self._forget_scopes()
        return len(removed)

    def remove_sources(self, sources: Collection[str]) -> int:
        self._store()
        self._documents.remove(sources)
        return sum(self._remove(source) for source in sources)

    # -- what Bookkeeping.rename_source and commit need -------------------------------------------
    def _stored(self, source: str) -> tuple[list[Chunk], np.ndarray, list[list[str]]]:
        store = self._store()
        ids = store.chunk_ids_of(source)
        if not ids:
            return [], np.zeros((0, self._manifest.dim), np.float32), []
        return [store.chunk(cid) for cid in ids], self.vectors_of(ids), store.stored_terms_of(source)

    def _move_document_vector(self, old: str, new: str) -> None:
        self._documents.rename(old, new)

    def _drop(self, source: str) -> None:
        self._remove(source)

    def _insert(self, chunks: Sequence[Chunk], vectors: np.ndarray, terms: list[list[str]]) -> None:
        self._add(chunks, vectors, terms)

    def sources_without_document_vector(self) -> list[str]:
        return sorted(s for s in self._passages.sources() if s not in self._documents)

    def set_document_vectors(self, sources: Sequence[str], vectors: np.ndarray) -> None:
        self._documents.assign(sources, vectors)

    def update_keyword_index(self) -> None:
        """Rebuild BM25 from the stored terms (only new passages were analysed)."""
        store = self._store()
        self._keyword = KeywordIndex.build(store.chunk_ids(), store.terms())
        self._keyword_stale = False
        self._forget_scopes()

    def update_approximate_index(self) -> None:
        """Train, keep or drop the IVF index for the current size."""
        self._store()
        self._update_manifest(ann_trained_on=self._vectors.update_approximate())

    def _save(self) -> str:
        """Write this state beside the live one and switch to it atomically."""
        store = self._store()
        folder = new_state_dir(self._index_dir)
        self._vectors.save(folder)
        store.save(folder)
        self._keyword.save(folder)
        self._documents.save(folder)
        (folder / MANIFEST_FILE).write_text(self._manifest.to_json(), encoding="utf-8")  # last: marks it complete
        published = publish_state(self._index_dir, folder)
        store.saved_as(published)
        self._version = published.name
        log.info("event=index_saved state=%s chunks=%d", published.name, self.size)
        return self._version


    def discard(self) -> None:
        """Nothing is written before commit(); an interrupted commit's directory is
        removed by the next writer."""


def _top(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (scores, ids), best first."""
    k = min(k, scores.size)
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return scores[best], ids[best]


def _load_state(state: Path, lean: bool) -> LocalIndex:
    manifest = parse_manifest((state / MANIFEST_FILE).read_bytes(), str(state / MANIFEST_FILE))
    passages = PassageView.load(state) if lean else PassageStore.load(state)
    vectors = FaissVectors.load(state, manifest.ann_trained_on, lean=lean)
    keyword = KeywordIndex.load(state)
    if keyword is None:
        raise IndexCorruptError(f"{state} has no keyword index; rebuild it with: {REBUILD}")
    # vectors made another way than the current code's are not used (refresh remakes them)
    current = manifest.document_vectors == DOCUMENT_VECTOR_VERSION
    documents = DocumentVectors.load(state) if current else DocumentVectors()
    if vectors.size != len(passages):
        raise IndexCorruptError(f"{state} holds {vectors.size} vectors for {len(passages)} passages; "
                                f"rebuild the index with: {REBUILD}")
    return LocalIndex(manifest, vectors, passages, keyword, documents, state.parent, state.name)


class LocalBackend:
    """Indexes kept in a directory of this machine (``store = "local"``)."""

    name = "local"

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir

    def live_version(self) -> str | None:
        state = current_state_dir(self.index_dir)
        return state.name if state else None

    def read_manifest(self) -> Manifest | None:
        state = current_state_dir(self.index_dir)
        if state is None:
            return None
        path = state / MANIFEST_FILE
        return parse_manifest(path.read_bytes(), str(path))

    def open(self) -> LocalIndex:
        """The live state, for reading (lean); raises :class:`IndexMissingError`
        when there is none.

        Should a writer switch states and remove this one while it is being
        read, the new live state is read instead."""
        return self._open(lean=True)

    def _open(self, lean: bool) -> LocalIndex:
        for attempt in range(3):
            state = current_state_dir(self.index_dir)
            if state is None:
                raise IndexMissingError(f"no index in {self.index_dir}: run hdf-assistant index")
            try:
                return _load_state(state, lean)
            except (FileNotFoundError, RuntimeError, IndexCorruptError) as exc:
                if attempt == 2 or current_state_dir(self.index_dir) == state:
                    if isinstance(exc, IndexCorruptError):
                        raise
                    raise IndexCorruptError(f"the index in {self.index_dir} cannot be read ({exc}); "
                                            f"rebuild it with: {REBUILD}") from exc
        raise AssertionError("unreachable")

    def create(self, manifest: Manifest) -> LocalIndex:
        return LocalIndex.empty(manifest, self.index_dir)

    def edit(self) -> LocalIndex:
        """The live state, whole in memory, to be edited and committed."""
        return self._open(lean=False)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """The update lock; what an interrupted writer left is removed first."""
        with index_lock(self.index_dir):
            remove_unfinished(self.index_dir)
            yield

