"""The index on disk: a FAISS id-mapped index, a docstore and a manifest.

Layout of the index directory (a contract; see README)::

    index/
      CURRENT               name of the live state directory
      state-<stamp>/
        manifest.json       model, dimension, chunking, files and hashes, build time
        vectors.faiss       faiss.IndexIDMap2(IndexFlatIP): cosine on unit vectors
        ids.json            chunk id -> FAISS id
        docstore.json       llama-index SimpleDocumentStore of the chunks (TextNodes)
        bm25/               the keyword index (keyword_index.py)
        ann.faiss           from 50k chunks on: IVF index of the same ids (ann_index.py)
        documents.npy/json  one vector per file, of its opening sentences (document_vectors.py)

A new state is always written into a fresh directory and made live by
atomically replacing ``CURRENT``; a reader never sees a half-written index.
FAISS ids come from a counter kept in the manifest, so they stay unique after
deletions and re-additions.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hdf_assistant.ann_index import ApproximateIndex, refreshed
from hdf_assistant.chunking import DOCUMENT_VECTOR_VERSION, SPLITTER_VERSION
from hdf_assistant.config import Settings
from hdf_assistant.document_vectors import DocumentVectors
from hdf_assistant.errors import IndexBusyError, IndexMismatchError, IndexMissingError
from hdf_assistant.keyword_index import ANALYZER_VERSION, KeywordIndex
from hdf_assistant.schema import Chunk, ScoredChunk

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT_FILE = "CURRENT"


@dataclass
class FileEntry:
    """What the manifest remembers of one indexed file."""

    hash: str
    pages: int
    chunks: int
    indexed_at: str


@dataclass
class Manifest:
    """Everything needed to tell whether the index matches the settings."""

    embed_model: str
    model_id: str
    dim: int
    query_prefix: str
    passage_prefix: str
    chunk_size: int
    chunk_overlap: int
    splitter_version: int = SPLITTER_VERSION
    #: how chunks are put in context for the embedding model (0: the chunk
    #: alone, the only way now; 1 was "after the file's first sentence")
    passage_context: int = 0
    #: how the per-file vectors were made (chunking.DOCUMENT_VECTOR_VERSION;
    #: 0: none, as in indexes written before they existed)
    document_vectors: int = 0
    analyzer_version: int = ANALYZER_VERSION
    format_version: int = FORMAT_VERSION
    built_at: str = ""
    next_id: int = 0
    #: size of the index when the IVF quantizer was trained (0: no IVF index)
    ann_trained_on: int = 0
    files: dict[str, FileEntry] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        files = {name: FileEntry(**entry) for name, entry in data.pop("files", {}).items()}
        return cls(**data, files=files)


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def check_compatible(manifest: Manifest, settings: Settings) -> None:
    """Raise :class:`IndexMismatchError` naming the first setting that differs."""
    expected = {
        "embed_model": settings.embed_model,
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "splitter_version": SPLITTER_VERSION,
        "passage_context": 0,
        "analyzer_version": ANALYZER_VERSION,
        "format_version": FORMAT_VERSION,
    }
    for name, value in expected.items():
        found = getattr(manifest, name)
        if found != value:
            raise IndexMismatchError(
                f"the index was built with {name}={found!r} but the current setting is "
                f"{name}={value!r}; rebuild it with: hdf-assistant index --full"
            )


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise IndexMissingError("faiss is not installed: pip install faiss-cpu") from exc
    return faiss


def _node(chunk: Chunk) -> Any:
    from llama_index.core.schema import TextNode

    return TextNode(
        id_=chunk.id,
        text=chunk.text,
        metadata={
            "source": chunk.source,
            "page": chunk.page,
            "start": chunk.start,
            "end": chunk.end,
            "file_hash": chunk.file_hash,
            "section": chunk.section,
        },
        excluded_embed_metadata_keys=["source", "page", "start", "end", "file_hash", "section"],
        excluded_llm_metadata_keys=["start", "end", "file_hash"],
    )


def _chunk(node: Any) -> Chunk:
    meta = node.metadata
    return Chunk(
        id=node.node_id,
        text=node.text,
        source=meta["source"],
        page=meta["page"],
        start=meta["start"],
        end=meta["end"],
        file_hash=meta["file_hash"],
        section=meta.get("section"),
    )


class VectorStore:
    """One consistent state of the index, in memory."""

    def __init__(
        self,
        manifest: Manifest,
        faiss_index: Any,
        docstore: Any,
        ids: dict[str, int],
        keyword: KeywordIndex | None = None,
        ann: ApproximateIndex | None = None,
        documents: DocumentVectors | None = None,
    ):
        self.manifest = manifest
        self.keyword = keyword
        #: name of the state directory this was loaded from or saved to
        self.state_name = ""
        self._index = faiss_index
        self._ann = ann
        #: per-file vectors (empty when the index predates them)
        self.documents = documents or DocumentVectors()
        self._docstore = docstore
        self._ids = ids
        self._by_faiss = {v: k for k, v in ids.items()}
        self._cache: dict[str, Chunk] = {}
        self._page_chunks: dict[tuple[str, int | None], list[Chunk]] | None = None
        self._source_pages: dict[str, list[int | None]] = {}
        self._pages: dict[tuple[str, int | None], str] = {}

    @classmethod
    def empty(cls, manifest: Manifest) -> VectorStore:
        from llama_index.core.storage.docstore import SimpleDocumentStore

        faiss = _faiss()
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(manifest.dim))
        return cls(manifest, index, SimpleDocumentStore(), {})

    # -- reading -----------------------------------------------------------
    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    def chunk(self, chunk_id: str) -> Chunk:
        cached = self._cache.get(chunk_id)
        if cached is None:
            cached = _chunk(self._docstore.get_node(chunk_id))
            self._cache[chunk_id] = cached
        return cached

    def chunks(self) -> list[Chunk]:
        return [self.chunk(cid) for cid in self._ids]

    def _pages_of_chunks(self) -> dict[tuple[str, int | None], list[Chunk]]:
        """Chunks grouped by (file, page), in text order; built once per state."""
        if self._page_chunks is None:
            grouped: dict[tuple[str, int | None], list[Chunk]] = {}
            for chunk in self.chunks():
                grouped.setdefault((chunk.source, chunk.page), []).append(chunk)
            for parts in grouped.values():
                parts.sort(key=lambda c: c.start)
            pages: dict[str, list[int | None]] = {}
            for source, page in sorted(grouped, key=lambda key: (key[0], key[1] or 0)):
                pages.setdefault(source, []).append(page)
            self._page_chunks, self._source_pages = grouped, pages
        return self._page_chunks

    def _pages_of(self, source: str) -> list[int | None]:
        self._pages_of_chunks()
        return self._source_pages.get(source, [])

    def page_text(self, source: str, page: int | None) -> str:
        """The text of one document (one PDF page), rebuilt from its chunks at
        their spans: chunk ``c`` is exactly ``page_text(...)[c.start:c.end]``."""
        key = (source, page)
        if key not in self._pages:
            parts = self._pages_of_chunks().get(key, [])
            size = max((c.end for c in parts), default=0)
            buffer = [" "] * size
            for c in parts:
                buffer[c.start : c.end] = c.text
            self._pages[key] = "".join(buffer)
        return self._pages[key]

    def chunk_ids_of(self, source: str) -> list[str]:
        """The chunks of one file, in page and text order."""
        return [c.id for page in self._pages_of(source) for c in self._pages_of_chunks()[(source, page)]]

    def sources(self) -> set[str]:
        """The files that have chunks in the index."""
        self._pages_of_chunks()
        return set(self._source_pages)

    def documents_missing(self) -> list[str]:
        """Files with chunks but no document vector, sorted."""
        return sorted(s for s in self.sources() if s not in self.documents)

    def source_text(self, source: str) -> str:
        """All the text indexed for one file: its pages in order."""
        return "\n".join(self.page_text(source, page) for page in self._pages_of(source))

    def _forget_texts(self) -> None:
        self._page_chunks = None
        self._pages = {}

    def chunk_at(self, position: int) -> Chunk:
        """The chunk at ``position`` in the keyword index's order."""
        assert self.keyword is not None
        return self.chunk(self.keyword.chunk_ids[position])

    def dense_scores(self, vector: np.ndarray, chunk_ids: list[str]) -> np.ndarray:
        """Exact cosine of ``vector`` with the given chunks."""
        if not chunk_ids:
            return np.zeros(0, dtype=np.float32)
        stored = self._index.reconstruct_batch(np.array([self._ids[cid] for cid in chunk_ids], dtype=np.int64))
        return stored @ np.asarray(vector, dtype=np.float32).reshape(-1)

    def search(self, vector: np.ndarray, k: int) -> list[ScoredChunk]:
        """The ``k`` chunks nearest to ``vector`` (cosine), best first."""
        if self.size == 0:
            return []
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        searcher = self._ann or self._index
        scores, ids = searcher.search(query, min(k, self.size))
        return [
            ScoredChunk(self.chunk(self._by_faiss[int(i)]), float(s))
            for s, i in zip(scores[0], ids[0])
            if i >= 0
        ]

    # -- writing -----------------------------------------------------------
    def add(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        if not chunks:
            return
        new_ids = np.arange(self.manifest.next_id, self.manifest.next_id + len(chunks), dtype=np.int64)
        self.manifest.next_id += len(chunks)
        self._forget_texts()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._index.add_with_ids(vectors, new_ids)
        if self._ann is not None:
            self._ann.add(vectors, new_ids)
        self._docstore.add_documents([_node(c) for c in chunks], allow_update=True)
        for chunk, fid in zip(chunks, new_ids):
            self._ids[chunk.id] = int(fid)
            self._by_faiss[int(fid)] = chunk.id
            self._cache[chunk.id] = chunk

    def rename_source(self, old: str, new: str) -> int:
        """Give the chunks of ``old`` to ``new`` without embedding them again."""
        from hdf_assistant.chunking import Span, chunk_id

        moved = [self.chunk(cid) for cid in self._ids if self.chunk(cid).source == old]
        if not moved:
            return 0
        vectors = self._index.reconstruct_batch(np.array([self._ids[c.id] for c in moved], dtype=np.int64))
        renamed = [
            Chunk(chunk_id(new, c.file_hash, c.page, Span(c.start, c.end)), c.text, new, c.page, c.start, c.end,
                  c.file_hash, c.section)
            for c in moved
        ]
        self.documents.rename(old, new)  # before remove_sources drops the old name's vector
        self.remove_sources({old})
        self.add(renamed, vectors)
        return len(renamed)

    def remove_sources(self, sources: set[str]) -> int:
        """Drop every chunk of ``sources`` from FAISS and the docstore,
        and their document vectors."""
        self.documents.remove(sources)
        doomed = [cid for cid in self._ids if self.chunk(cid).source in sources]
        if not doomed:
            return 0
        faiss_ids = np.array([self._ids[cid] for cid in doomed], dtype=np.int64)
        self._index.remove_ids(faiss_ids)
        if self._ann is not None:
            self._ann.remove(faiss_ids)
        self._forget_texts()
        for cid in doomed:
            self._docstore.delete_document(cid, raise_error=False)
            del self._by_faiss[self._ids.pop(cid)]
            self._cache.pop(cid, None)
        return len(doomed)

    # -- disk --------------------------------------------------------------
    def save(self, index_dir: Path) -> Path:
        """Write this state beside the live one and switch to it atomically."""
        faiss = _faiss()
        index_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S") + f"-{time.time_ns() % 1_000_000_000:09d}"
        target = index_dir / f"state-{stamp}"
        tmp = index_dir / f".tmp-{stamp}"
        tmp.mkdir()
        self.manifest.built_at = now_iso()
        faiss.write_index(self._index, str(tmp / "vectors.faiss"))
        self._ann = refreshed(self._ann, self._index)
        self.manifest.ann_trained_on = self._ann.trained_on if self._ann else 0
        if self._ann is not None:
            self._ann.save(tmp)
        ids = list(self._ids)
        self.keyword = KeywordIndex.build(ids, [self.chunk(cid).text for cid in ids])
        self.keyword.save(tmp)
        self.documents.save(tmp)
        self._docstore.persist(str(tmp / "docstore.json"))
        (tmp / "ids.json").write_text(json.dumps(self._ids), encoding="utf-8")
        (tmp / "manifest.json").write_text(
            json.dumps(self.manifest.to_json(), ensure_ascii=False, indent=1), encoding="utf-8"
        )
        os.replace(tmp, target)
        previous = current_state_dir(index_dir)
        pointer = index_dir / f".{CURRENT_FILE}.{stamp}"
        pointer.write_text(target.name, encoding="utf-8")
        os.replace(pointer, index_dir / CURRENT_FILE)  # the atomic switch
        self.state_name = target.name
        # keep the previous state too: a reader may still be loading it
        _remove_old_states(index_dir, keep={target.name, previous.name if previous else ""})
        log.info("event=index_saved state=%s chunks=%d", target.name, self.size)
        return target


def _remove_old_states(index_dir: Path, keep: set[str]) -> None:
    for old in index_dir.glob("state-*"):
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)


def remove_unfinished(index_dir: Path) -> None:
    """Remove what an interrupted save left behind (call while holding the lock)."""
    for leftover in list(index_dir.glob(".tmp-*")) + list(index_dir.glob(f".{CURRENT_FILE}.*")):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


@contextmanager
def index_lock(index_dir: Path) -> Iterator[None]:
    """Exclusive right to update ``index_dir`` (released even if the process dies)."""
    import fcntl

    index_dir.mkdir(parents=True, exist_ok=True)
    path = index_dir / ".lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise IndexBusyError(
                f"another 'hdf-assistant index' (pid {holder}) is updating {index_dir}; "
                "try again when it has finished"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_state_dir(index_dir: Path) -> Path | None:
    """The live state directory, or None when no index was built."""
    pointer = index_dir / CURRENT_FILE
    if not pointer.is_file():
        return None
    state = index_dir / pointer.read_text(encoding="utf-8").strip()
    return state if (state / "manifest.json").is_file() else None


def read_manifest(index_dir: Path) -> Manifest | None:
    state = current_state_dir(index_dir)
    if state is None:
        return None
    return Manifest.from_json(json.loads((state / "manifest.json").read_text(encoding="utf-8")))


def load_store(index_dir: Path) -> VectorStore:
    """Load the live state; raises :class:`IndexMissingError` when there is none.

    Should a writer switch states and remove this one while it is being read,
    the new live state is read instead."""
    for attempt in range(3):
        state = current_state_dir(index_dir)
        if state is None:
            raise IndexMissingError(f"no index in {index_dir}: run hdf-assistant index")
        try:
            return _load_state(state)
        except (FileNotFoundError, RuntimeError) as exc:
            if attempt == 2 or current_state_dir(index_dir) == state:
                raise IndexMissingError(f"the index in {index_dir} cannot be read ({exc}): "
                                        "rebuild it with hdf-assistant index --full") from exc
    raise AssertionError("unreachable")


def _load_state(state: Path) -> VectorStore:
    from llama_index.core.storage.docstore import SimpleDocumentStore

    faiss = _faiss()
    faiss.omp_set_num_threads(1)  # one query at a time: one thread is fastest
    manifest = Manifest.from_json(json.loads((state / "manifest.json").read_text(encoding="utf-8")))
    index = faiss.read_index(str(state / "vectors.faiss"))
    docstore = SimpleDocumentStore.from_persist_path(str(state / "docstore.json"))
    ids = json.loads((state / "ids.json").read_text(encoding="utf-8"))
    ann = ApproximateIndex.load(state, manifest.ann_trained_on)
    # vectors made another way than the current code's are not used (refresh remakes them)
    documents = DocumentVectors.load(state) if manifest.document_vectors == DOCUMENT_VECTOR_VERSION else None
    store = VectorStore(manifest, index, docstore, ids, KeywordIndex.load(state), ann, documents)
    store.state_name = state.name
    return store
