"""The passages of the local index: text, metadata, FAISS ids, analysed terms.

On disk, one pair of files per indexed source under ``passages/``, named by a
hash of the source's name:

- ``<key>.json``: the source's name and its passages (id, FAISS id, page,
  character span, section, text), in page and text order;
- ``<key>.terms``: one line per passage, its analysed terms (for BM25), read
  only when the keyword index is rebuilt.

A new state writes the files of the sources that changed and hard-links the
others from the previous state, so refreshing one file of a 10,000-passage
index writes one file's passages, not 10,000. Page texts are rebuilt from the
passages at their spans: passage ``c`` is exactly ``page_text(...)[c.start:c.end]``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hdf_assistant.analysis import analyze
from hdf_assistant.errors import IndexCorruptError
from hdf_assistant.index.state import link_or_copy
from hdf_assistant.schema import Chunk

PASSAGES_DIR = "passages"
REBUILD = "hdf-assistant index --full"


def segment_key(source: str) -> str:
    """File name stem of a source's passages (any source name is safe)."""
    return hashlib.sha1(source.encode("utf-8")).hexdigest()[:24]


def passage_terms(text: str) -> list[str]:
    """What the keyword index stores for a passage."""
    return analyze(text)


def text_of(chunks: Iterable[Chunk]) -> str:
    """The text of one document (one PDF page) rebuilt from its passages at their
    spans (a gap no passage covers is spaces)."""
    parts = list(chunks)
    buffer = [" "] * max((c.end for c in parts), default=0)
    for c in parts:
        buffer[c.start : c.end] = c.text
    return "".join(buffer)


class PassageStore:
    """Passages by id and by source, with their FAISS ids."""

    def __init__(self) -> None:
        self._chunks: dict[str, Chunk] = {}
        self._faiss_ids: dict[str, int] = {}
        self._by_faiss: dict[int, str] = {}
        self._by_source: dict[str, list[str]] = {}
        #: terms of passages added since loading (the others are on disk)
        self._terms: dict[str, list[str]] = {}
        #: sources whose files must be written at the next save
        self._dirty: set[str] = set()
        #: the folder the clean sources' files come from
        self._origin: Path | None = None
        self._texts: dict[tuple[str, int | None], str] = {}

    # -- reading -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._chunks)

    def chunk(self, chunk_id: str) -> Chunk:
        return self._chunks[chunk_id]

    def faiss_id(self, chunk_id: str) -> int:
        return self._faiss_ids[chunk_id]

    def chunk_id_at(self, faiss_id: int) -> str | None:
        return self._by_faiss.get(faiss_id)

    def sources(self) -> list[str]:
        return sorted(self._by_source)

    def chunk_ids(self) -> list[str]:
        """Every passage, source by source, in text order."""
        return [cid for source in self.sources() for cid in self._by_source[source]]

    def chunk_ids_of(self, source: str) -> list[str]:
        """The passages of one source, in page and text order."""
        return list(self._by_source.get(source, ()))

    def page_text(self, source: str, page: int | None) -> str:
        """The text of one document (one PDF page), rebuilt from its passages."""
        key = (source, page)
        if key not in self._texts:
            self._texts[key] = text_of([self._chunks[cid] for cid in self._by_source.get(source, ())
                                        if self._chunks[cid].page == page])
        return self._texts[key]

    def pages_of(self, source: str) -> list[int | None]:
        return list(dict.fromkeys(self._chunks[cid].page for cid in self._by_source.get(source, ())))

    def source_text(self, source: str) -> str:
        """All the text indexed for one source: its pages in order."""
        return "\n".join(self.page_text(source, page) for page in self.pages_of(source))

    def terms(self) -> list[list[str]]:
        """The analysed terms of every passage, in :meth:`chunk_ids` order
        (from disk for the passages not added since loading)."""
        return [terms for source in self.sources() for terms in self.stored_terms_of(source)]

    def _stored_terms(self, source: str, ids: list[str]) -> list[list[str]]:
        if self._origin is None:
            raise IndexCorruptError(f"no stored terms for {source}; rebuild the index with: {REBUILD}")
        path = self._origin / PASSAGES_DIR / f"{segment_key(source)}.terms"
        if not path.is_file():
            raise IndexCorruptError(f"{path} is missing; rebuild the index with: {REBUILD}")
        lines = path.read_text(encoding="utf-8").split("\n")
        if len(lines) != len(ids):
            raise IndexCorruptError(f"{path} does not match its passages; rebuild the index with: {REBUILD}")
        return [line.split() for line in lines]

    # -- writing -------------------------------------------------------------
    def add(self, chunks: Sequence[Chunk], faiss_ids: Sequence[int], terms: Sequence[list[str]] | None = None) -> None:
        """Add passages (with their FAISS ids and, if known, their terms)."""
        for i, (chunk, fid) in enumerate(zip(chunks, faiss_ids)):
            self._chunks[chunk.id] = chunk
            self._faiss_ids[chunk.id] = int(fid)
            self._by_faiss[int(fid)] = chunk.id
            self._by_source.setdefault(chunk.source, []).append(chunk.id)
            self._terms[chunk.id] = list(terms[i]) if terms is not None else passage_terms(chunk.text)
        for source in {c.source for c in chunks}:
            self._by_source[source].sort(key=lambda cid: (self._chunks[cid].page or 0, self._chunks[cid].start))
            self._touched(source)

    def remove_source(self, source: str) -> list[int]:
        """Drop the passages of ``source``; returns their FAISS ids."""
        removed = []
        for cid in self._by_source.pop(source, []):
            self._chunks.pop(cid)
            fid = self._faiss_ids.pop(cid)
            self._by_faiss.pop(fid, None)
            self._terms.pop(cid, None)
            removed.append(fid)
        self._touched(source)
        return removed

    def stored_terms_of(self, source: str) -> list[list[str]]:
        """The terms of one source's passages, in text order: in memory for passages
        added since loading, from disk for the others."""
        ids = self._by_source.get(source, [])
        if all(cid in self._terms for cid in ids):
            return [self._terms[cid] for cid in ids]
        return self._stored_terms(source, ids)

    def _touched(self, source: str) -> None:
        self._dirty.add(source)
        for key in [k for k in self._texts if k[0] == source]:
            del self._texts[key]

    # -- disk ----------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write the passages into the new state ``folder``: the files of
        changed sources are written, the others linked from the previous state
        (call :meth:`saved_as` once that state is published)."""
        target = folder / PASSAGES_DIR
        target.mkdir()
        for source in self.sources():
            key = segment_key(source)
            if source not in self._dirty and self._origin is not None:
                old = self._origin / PASSAGES_DIR
                if (old / f"{key}.json").is_file() and (old / f"{key}.terms").is_file():
                    link_or_copy(old / f"{key}.json", target / f"{key}.json")
                    link_or_copy(old / f"{key}.terms", target / f"{key}.terms")
                    continue
            ids = self._by_source[source]
            terms = self.stored_terms_of(source)
            (target / f"{key}.json").write_text(json.dumps(self._segment(source, ids), ensure_ascii=False),
                                                encoding="utf-8")
            (target / f"{key}.terms").write_text("\n".join(" ".join(t) for t in terms), encoding="utf-8")

    def saved_as(self, folder: Path) -> None:
        """The state written by :meth:`save` is now ``folder``: every source is clean."""
        self._dirty.clear()
        self._terms.clear()
        self._origin = folder

    def _segment(self, source: str, ids: list[str]) -> dict[str, Any]:
        rows = []
        for cid in ids:
            c = self._chunks[cid]
            rows.append({"id": c.id, "faiss_id": self._faiss_ids[cid], "page": c.page, "start": c.start,
                         "end": c.end, "section": c.section, "file_hash": c.file_hash, "text": c.text,
                         **({"ocr": True} if c.ocr else {})})
        return {"source": source, "passages": rows}

    @classmethod
    def load(cls, folder: Path) -> PassageStore:
        store = cls()
        directory = folder / PASSAGES_DIR
        for path in sorted(directory.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                source = data["source"]
                rows = data["passages"]
                chunks = [Chunk(r["id"], r["text"], source, r["page"], r["start"], r["end"], r["file_hash"],
                                r["section"], bool(r.get("ocr", False))) for r in rows]
            except (ValueError, KeyError, TypeError) as exc:
                raise IndexCorruptError(f"{path} cannot be read ({exc!r}); rebuild the index with: {REBUILD}") from exc
            store._put(chunks, [r["faiss_id"] for r in rows])
        store._origin = folder
        return store

    def _put(self, chunks: Iterable[Chunk], faiss_ids: Iterable[int]) -> None:
        """Add loaded passages (already in order, terms on disk)."""
        sources = set()
        for chunk, fid in zip(chunks, faiss_ids):
            self._chunks[chunk.id] = chunk
            self._faiss_ids[chunk.id] = int(fid)
            self._by_faiss[int(fid)] = chunk.id
            self._by_source.setdefault(chunk.source, []).append(chunk.id)
            sources.add(chunk.source)
        for source in sources:
            self._by_source[source].sort(key=lambda cid: (self._chunks[cid].page or 0, self._chunks[cid].start))
