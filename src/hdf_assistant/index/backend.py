"""The interface every index backend implements.

Retrievers, the answerer, the assistant and the UI use :class:`SearchIndex`
only; the builder (builder.py) uses :class:`WritableIndex` and
:class:`IndexBackend`. A backend keeps its storage to itself: FAISS and bm25s
in local.py (files in a directory of this machine).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

import numpy as np

from hdf_assistant.index.documents import DocumentScores
from hdf_assistant.index.manifest import FileEntry, Manifest
from hdf_assistant.index.scope import Scope
from hdf_assistant.schema import Chunk, ScoredChunk


class SearchIndex(Protocol):
    """One consistent state of an index, for answering questions.

    The searches take a ``scope`` (scope.py): the collections, and maybe files, a request may read; the
    store applies it inside the query, so a passage outside it is never ranked and the keyword statistics
    are the scope's own. ``ScopedIndex`` is an index seen through one scope."""

    @property
    def manifest(self) -> Manifest:
        """Model, chunking and files of this state."""

    @property
    def version(self) -> str:
        """Identifies this state; a new one is made by every commit."""

    @property
    def size(self) -> int:
        """Number of passages."""

    @property
    def has_document_vectors(self) -> bool:
        """False for an index built before document vectors existed."""

    def chunk(self, chunk_id: str) -> Chunk: ...

    def chunk_ids_of(self, source: str) -> list[str]:
        """The passages of one file, in page and text order."""

    def sources(self) -> list[str]:
        """The files that have passages, sorted."""

    def page_text(self, source: str, page: int | None) -> str:
        """The text of one document (one PDF page): passage ``c`` is ``page_text(...)[c.start:c.end]``."""

    def source_text(self, source: str) -> str:
        """All the text indexed for one file, its pages in order."""

    def count(self, scope: Scope | None = None) -> int:
        """Number of passages (inside ``scope``)."""

    def search(self, vector: np.ndarray, k: int, scope: Scope | None = None) -> list[ScoredChunk]:
        """The ``k`` passages (inside ``scope``) nearest to the unit ``vector`` (cosine), best first."""

    def dense_scores(self, vector: np.ndarray, chunk_ids: Sequence[str]) -> np.ndarray:
        """Exact cosine of ``vector`` with each of the given passages."""

    def document_scores(self, vector: np.ndarray, scope: Scope | None = None) -> DocumentScores | None:
        """Cosine of ``vector`` with every file's (inside ``scope``) document vector (None: the index has none)."""

    def keyword_search(self, question: str, k: int, scope: Scope | None = None) -> list[ScoredChunk]:
        """The ``k`` passages (inside ``scope``) with the best positive BM25 scores, best first."""

    def keyword_scores(self, question: str, chunk_ids: Sequence[str], scope: Scope | None = None) -> np.ndarray:
        """BM25 score (with ``scope``'s statistics) of each of the given passages for ``question``."""

    def document_frequency(self, terms: Sequence[str], scope: Scope | None = None) -> dict[str, int]:
        """Number of passages (inside ``scope``) containing each analysed term."""


class WritableIndex(SearchIndex, Protocol):
    """A copy of a state being changed by the builder, then committed."""

    def replace_source(self, source: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Make ``chunks`` (with their vectors, one row each) the passages of ``source``."""

    def remove_sources(self, sources: Collection[str]) -> int:
        """Drop the passages and document vectors of ``sources``; returns the passages removed."""

    def rename_source(self, old: str, new: str) -> int:
        """Give the passages of ``old`` to ``new`` without embedding anything."""

    def sources_without_document_vector(self) -> list[str]: ...

    def record_files(self, files: dict[str, FileEntry], skipped: dict[str, str]) -> None:
        """What the manifest of this version says of each file, and of the files skipped."""

    def set_document_vectors(self, sources: Sequence[str], vectors: np.ndarray) -> None: ...

    def update_keyword_index(self) -> None:
        """Bring the keyword index in step with the passages (before commit)."""

    def update_approximate_index(self) -> None:
        """Train, keep or drop the approximate dense index for the current size."""

    def commit(self) -> str:
        """Make this state the live one, atomically; returns its version."""

    def discard(self) -> None:
        """Give up these changes after an error: nothing of them becomes live."""


class IndexBackend(Protocol):
    """Where indexes live: opens the live state, creates or edits one."""

    name: str

    def live_version(self) -> str | None:
        """Version of the live state (None: no index). Cheap: called before every question."""

    def read_manifest(self) -> Manifest | None:
        """The live state's manifest, without loading the index."""

    def open(self) -> SearchIndex:
        """The live state, for answering."""

    def create(self, manifest: Manifest) -> WritableIndex:
        """An empty index (made live by its commit)."""

    def edit(self) -> WritableIndex:
        """A copy of the live state to change (made live by its commit)."""

    def writing(self) -> AbstractContextManager[None]:
        """Held by the one process allowed to write; raises IndexBusyError when another holds it."""
