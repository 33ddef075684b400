"""The passages of the local index: text, metadata, FAISS ids, analysed terms.

On disk, one pair of files per indexed source under ``passages/``, named by a
hash of the source's name:

- ``<key>.json``: the source's name and its passages (id, FAISS id, page,
  character span, section, text), in page and text order;
- ``<key>.terms``: one line per passage, its analysed terms (for BM25), read
  only when the keyword index is rebuilt.

and beside them ``passages.npz``, the table of every passage (id, FAISS id,
source, row), so that a reader need not parse every source to find one.

A new state writes the files of the sources that changed and hard-links the
others from the previous state, so refreshing one file of a 10,000-passage
index writes one file's passages, not 10,000. Page texts are rebuilt from the
passages at their spans: passage ``c`` is exactly ``page_text(...)[c.start:c.end]``.

Two classes hold them: :class:`PassageStore`, every passage in memory, which
the builder edits; and :class:`PassageView`, what a reading process (the
assistant, the API) opens: the table in arrays (about 40 bytes a passage) and
the sources' files parsed when a question needs them, the last ones kept
(:data:`VIEW_CACHE_PASSAGES`). A million passages as Python objects take
about 1.5 GB; viewed, under 100 MB.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hdf_assistant.analysis import analyze
from hdf_assistant.atomic import link_or_copy
from hdf_assistant.errors import IndexBusyError, IndexCorruptError
from hdf_assistant.index.id_table import IdTable
from hdf_assistant.index.manifest import REBUILD
from hdf_assistant.schema import Chunk

PASSAGES_DIR = "passages"
TABLE_FILE = "passages.npz"
#: passages of recently read sources a view keeps parsed
VIEW_CACHE_PASSAGES = 20_000
#: page texts a reader keeps rebuilt
PAGE_CACHE = 256


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


def read_segment(path: Path) -> tuple[list[Chunk], list[int]]:
    """The passages of one source's file, in order, and their FAISS ids."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        source = data["source"]
        rows = data["passages"]
        chunks = [Chunk(r["id"], r["text"], source, r["page"], r["start"], r["end"], r["file_hash"],
                        r["section"], bool(r.get("ocr", False))) for r in rows]
        return chunks, [int(r["faiss_id"]) for r in rows]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexCorruptError(f"{path} cannot be read ({exc!r}); rebuild the index with: {REBUILD}") from exc


class _PassageReader:
    """Page and source texts rebuilt from passages (the reading half both classes share)."""

    def __init__(self) -> None:
        self._texts: OrderedDict[tuple[str, int | None], str] = OrderedDict()
        self._lock = threading.Lock()

    def chunk(self, chunk_id: str) -> Chunk:
        raise NotImplementedError

    def chunk_ids_of(self, source: str) -> list[str]:
        raise NotImplementedError

    def _chunks_of(self, source: str) -> list[Chunk]:
        return [self.chunk(cid) for cid in self.chunk_ids_of(source)]

    def page_text(self, source: str, page: int | None) -> str:
        """The text of one document (one PDF page), rebuilt from its passages."""
        key = (source, page)
        with self._lock:
            if key in self._texts:
                self._texts.move_to_end(key)
                return self._texts[key]
        text = text_of([c for c in self._chunks_of(source) if c.page == page])
        with self._lock:
            self._texts[key] = text
            while len(self._texts) > PAGE_CACHE:
                self._texts.popitem(last=False)
        return text

    def pages_of(self, source: str) -> list[int | None]:
        return list(dict.fromkeys(c.page for c in self._chunks_of(source)))

    def source_text(self, source: str) -> str:
        """All the text indexed for one source: its pages in order."""
        return "\n".join(self.page_text(source, page) for page in self.pages_of(source))

    def _forget_texts(self, source: str) -> None:
        with self._lock:
            for key in [k for k in self._texts if k[0] == source]:
                del self._texts[key]


class PassageStore(_PassageReader):
    """Passages by id and by source, with their FAISS ids, all in memory (for editing)."""

    def __init__(self) -> None:
        super().__init__()
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
        self._forget_texts(source)

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
        table = self.table()
        np.savez(folder / TABLE_FILE, sources=table["sources"], ids=table["ids"], faiss_ids=table["faiss_ids"],
                 source_of=table["source_of"], rows=table["rows"])

    def table(self) -> dict[str, np.ndarray]:
        """Every passage, source by source in text order: its id, FAISS id,
        source (a row of ``sources``) and row in its source's file."""
        sources = self.sources()
        counts = [len(self._by_source[s]) for s in sources]
        ids = [cid for source in sources for cid in self._by_source[source]]
        return {
            "sources": np.array(sources, dtype=str),
            "ids": IdTable(ids).array,
            "faiss_ids": np.array([self._faiss_ids[cid] for cid in ids], dtype=np.int64),
            "source_of": np.repeat(np.arange(len(sources), dtype=np.int32), counts),
            "rows": np.concatenate([np.arange(n, dtype=np.int32) for n in counts]) if counts
            else np.zeros(0, dtype=np.int32),
        }

    def arrays(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """(files, file of each passage as a row of files, FAISS ids, passage ids as byte strings)."""
        table = self.table()
        return [str(s) for s in table["sources"]], table["source_of"], table["faiss_ids"], table["ids"]

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
            chunks, faiss_ids = read_segment(path)
            store._put(chunks, faiss_ids)
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


class PassageView(_PassageReader):
    """The passages of a saved state, read-only: the table in arrays, the
    sources' passages parsed from their files when asked for (the last
    :data:`VIEW_CACHE_PASSAGES` kept)."""

    def __init__(self, folder: Path, sources: list[str], ids: IdTable, faiss_ids: np.ndarray,
                 source_of: np.ndarray, rows: np.ndarray) -> None:
        super().__init__()
        self._folder = folder
        self._sources = sources
        self._source_index = {s: i for i, s in enumerate(sources)}
        self._ids = ids
        self._faiss_ids = faiss_ids
        self._source_of = source_of
        self._rows = rows
        self._position_of_faiss = np.full(int(faiss_ids.max()) + 1 if faiss_ids.size else 0, -1, dtype=np.int32)
        self._position_of_faiss[faiss_ids] = np.arange(faiss_ids.size, dtype=np.int32)
        self._segments: OrderedDict[str, list[Chunk]] = OrderedDict()
        self._cached = 0

    @classmethod
    def load(cls, folder: Path) -> PassageView:
        """The view of state ``folder`` (a state saved before the table existed
        is read whole once to make it)."""
        path = folder / TABLE_FILE
        try:
            if path.is_file():
                with np.load(path, allow_pickle=False) as saved:
                    table = {name: saved[name] for name in saved.files}
            else:
                table = PassageStore.load(folder).table()
            return cls(folder, [str(s) for s in table["sources"]], IdTable(table["ids"]), table["faiss_ids"],
                       table["source_of"], table["rows"])
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorruptError(f"{path} cannot be read ({exc!r}); rebuild the index with: {REBUILD}") from exc

    def __len__(self) -> int:
        return len(self._ids)

    def _segment(self, source_number: int) -> list[Chunk]:
        source = self._sources[source_number]
        with self._lock:
            if source in self._segments:
                self._segments.move_to_end(source)
                return self._segments[source]
        path = self._folder / PASSAGES_DIR / f"{segment_key(source)}.json"
        if not self._folder.is_dir():  # replaced and removed by the builder (state.RETIRED_GRACE_S)
            raise IndexBusyError("the index was replaced while this question was answered: ask it again")
        chunks, _ = read_segment(path)
        with self._lock:
            if source not in self._segments:
                self._segments[source] = chunks
                self._cached += len(chunks)
                while self._cached > VIEW_CACHE_PASSAGES and len(self._segments) > 1:
                    _, dropped = self._segments.popitem(last=False)
                    self._cached -= len(dropped)
        return chunks

    def _at(self, position: int) -> Chunk:
        chunk = self._segment(int(self._source_of[position]))[int(self._rows[position])]
        if chunk.id != self._ids[position]:
            raise IndexCorruptError(f"{self._folder / TABLE_FILE} does not match the passages; "
                                    f"rebuild the index with: {REBUILD}")
        return chunk

    def _position(self, chunk_id: str) -> int:
        position = self._ids.position(chunk_id)
        if position is None:
            raise KeyError(chunk_id)
        return position

    def chunk(self, chunk_id: str) -> Chunk:
        return self._at(self._position(chunk_id))

    def faiss_id(self, chunk_id: str) -> int:
        return int(self._faiss_ids[self._position(chunk_id)])

    def chunk_id_at(self, faiss_id: int) -> str | None:
        if not 0 <= faiss_id < self._position_of_faiss.size or self._position_of_faiss[faiss_id] < 0:
            return None
        return self._ids[int(self._position_of_faiss[faiss_id])]

    def sources(self) -> list[str]:
        return list(self._sources)

    def arrays(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """(files, file of each passage as a row of files, FAISS ids, passage ids as byte strings)."""
        return self._sources, self._source_of, self._faiss_ids, self._ids.array

    def chunk_ids(self) -> list[str]:
        return [self._ids[i] for i in range(len(self._ids))]

    def chunk_ids_of(self, source: str) -> list[str]:
        number = self._source_index.get(source)
        return [] if number is None else [c.id for c in self._segment(number)]

    def _chunks_of(self, source: str) -> list[Chunk]:
        number = self._source_index.get(source)
        return [] if number is None else list(self._segment(number))
