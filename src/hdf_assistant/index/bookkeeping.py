"""What every store does the same way when it writes the next version of an
index: renaming a file's passages, the manifest's stamps and the checks made
before a version goes live, and how long a retired version's data is kept.

A store (``local.py``, ``postgres_write.py``) only stores and fetches: it says
how to read a file's stored passages, drop them, insert passages and save the
version; :class:`Bookkeeping` puts those steps in order. The builder calls a
writable index's steps in this order: ``replace_source`` / ``remove_sources`` /
``rename_source``, ``set_document_vectors``, ``update_keyword_index``,
``update_approximate_index``, ``commit``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from hdf_assistant.index.manifest import FORMAT_VERSION, FileEntry, Manifest, now_iso
from hdf_assistant.ingest.chunking import DOCUMENT_VECTOR_VERSION, Span, chunk_id
from hdf_assistant.schema import Chunk

#: seconds a retired version's data is kept after its successor went live, in both stores: a reader
#: still answering a question it began on the old version reads it meanwhile (a question takes seconds)
RETIRED_GRACE_S = 120.0


def renamed(chunks: Sequence[Chunk], new: str) -> list[Chunk]:
    """The passages of a renamed file: same text, spans and hash, the new name and ids."""
    return [replace(c, id=chunk_id(new, c.file_hash, c.page, Span(c.start, c.end)), source=new) for c in chunks]


class Bookkeeping(ABC):
    """The shared steps of a writable index; the store supplies the storage."""

    _manifest: Manifest
    #: passages changed since the keyword statistics were made
    _keyword_stale: bool

    # -- what a store provides -----------------------------------------------------------------
    @abstractmethod
    def _stored(self, source: str) -> tuple[list[Chunk], np.ndarray, list[list[str]]]:
        """The live passages of ``source`` in order, their vectors and their analysed terms."""

    @abstractmethod
    def _move_document_vector(self, old: str, new: str) -> None:
        """Give ``new`` the document vector of ``old`` (``old`` has none after :meth:`_drop`)."""

    @abstractmethod
    def _drop(self, source: str) -> None:
        """Remove ``source``'s passages, terms and document vector from this version."""

    @abstractmethod
    def _insert(self, chunks: Sequence[Chunk], vectors: np.ndarray, terms: list[list[str]]) -> None:
        """Add passages with their vectors and already analysed terms."""

    @abstractmethod
    def _save(self) -> str:
        """Write this version and make it live; its name."""

    def _ready_to_commit(self) -> None:  # noqa: B027 (a hook: most stores have nothing to do)
        """A store's own checks before saving (pending writes, its search structure)."""

    # -- the shared steps ----------------------------------------------------------------------
    def rename_source(self, old: str, new: str) -> int:
        """Move ``old``'s passages to ``new`` without embedding or analysing anything again;
        how many moved (0 when ``old`` has none)."""
        chunks, vectors, terms = self._stored(old)
        if not chunks:
            return 0
        self._move_document_vector(old, new)
        self._drop(old)
        moved = renamed(chunks, new)
        self._insert(moved, vectors, terms)
        return len(moved)

    def _update_manifest(self, **changes: object) -> None:
        """This version's manifest with ``changes`` (a manifest never changes: a new one replaces it)."""
        self._manifest = self._manifest.model_copy(update=changes)

    def record_files(self, files: dict[str, FileEntry], skipped: dict[str, str]) -> None:
        """What this version's manifest says of each file, and of the files skipped."""
        self._update_manifest(files=dict(files), skipped=dict(skipped))

    def commit(self) -> str:
        """Check, stamp the manifest, and make this version live; its name."""
        self._ready_to_commit()
        if self._keyword_stale:
            raise RuntimeError("the keyword index is out of date: call update_keyword_index() before commit()")
        self._update_manifest(format_version=FORMAT_VERSION, document_vectors=DOCUMENT_VECTOR_VERSION,
                              built_at=now_iso())
        return self._save()
