"""Build or refresh the index: corpus files -> chunks -> embeddings -> store.

Only added and changed files are read and embedded; the chunks of changed and
deleted files are removed. ``full=True`` starts from an empty index.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from hdf_assistant.chunking import DOCUMENT_VECTOR_VERSION, chunk_document, document_lead
from hdf_assistant.config import Settings
from hdf_assistant.embeddings import Embedder
from hdf_assistant.errors import EmptyCorpusError, IndexMismatchError
from hdf_assistant.ingest import read_files, scan_corpus
from hdf_assistant.schema import Chunk, IndexReport
from hdf_assistant.store import (
    FileEntry,
    Manifest,
    VectorStore,
    check_compatible,
    index_lock,
    load_store,
    now_iso,
    read_manifest,
    remove_unfinished,
)

log = logging.getLogger(__name__)


class Progress:
    """Counts embedded chunks; a terminal bar when asked for one."""

    def __init__(self, total: int, enabled: bool, desc: str = "Embedding", unit: str = "chunk") -> None:
        self._bar = None
        if enabled and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit)

    def __call__(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@dataclass(frozen=True)
class Plan:
    """What a refresh will do, file by file."""

    added: list[str]
    updated: list[str]
    removed: list[str]
    unchanged: list[str]
    #: (old name, new name): same content under another name, not re-embedded
    renamed: list[tuple[str, str]]


def _plan(manifest: Manifest | None, current: dict[str, str]) -> Plan:
    known = {} if manifest is None else {name: entry.hash for name, entry in manifest.files.items()}
    added = sorted(n for n in current if n not in known)
    removed = sorted(n for n in known if n not in current)
    renamed = []
    for new in list(added):
        old = next((o for o in removed if known[o] == current[new]), None)
        if old is not None:
            renamed.append((old, new))
            added.remove(new)
            removed.remove(old)
    return Plan(
        added=added,
        updated=sorted(n for n in current if n in known and known[n] != current[n]),
        removed=removed,
        unchanged=sorted(n for n in current if known.get(n) == current[n]),
        renamed=renamed,
    )


def _new_manifest(settings: Settings, embedder: Embedder) -> Manifest:
    query = getattr(embedder, "query_prefix", "")
    passage = getattr(embedder, "passage_prefix", "")
    return Manifest(
        embed_model=settings.embed_model,
        model_id=embedder.model_id,
        dim=embedder.dim,
        query_prefix=query,
        passage_prefix=passage,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
    )


def refresh_index(
    settings: Settings,
    embedder_factory: Callable[[], Embedder],
    full: bool = False,
    progress: bool = False,
) -> IndexReport:
    """Bring the index in step with the corpus and report what changed.

    ``embedder_factory`` is only called when something must be embedded, so
    an unchanged corpus is checked without loading the model.
    """
    started = time.perf_counter()
    with index_lock(settings.index_dir):
        remove_unfinished(settings.index_dir)
        report = _refresh(settings, embedder_factory, full, progress)
    report.seconds = time.perf_counter() - started
    log.info(
        "event=index_refreshed added=%d updated=%d removed=%d renamed=%d unchanged=%d skipped=%d embedded=%d "
        "embedded_documents=%d seconds=%.1f",
        len(report.added), len(report.updated), len(report.removed), len(report.renamed), len(report.unchanged),
        len(report.skipped), report.embedded_chunks, report.embedded_documents, report.seconds,
    )
    return report


def _refresh(
    settings: Settings,
    embedder_factory: Callable[[], Embedder],
    full: bool,
    progress: bool,
) -> IndexReport:
    files = scan_corpus(settings.corpus_dir)
    manifest = None if full else read_manifest(settings.index_dir)
    if manifest is not None:
        try:
            check_compatible(manifest, settings)
        except IndexMismatchError as exc:
            raise IndexMismatchError(f"{exc} (an incremental refresh cannot change this)") from exc
    plan = _plan(manifest, {f.source: f.file_hash for f in files})
    to_read = [f for f in files if f.source in set(plan.added) | set(plan.updated)]
    documents, skipped = read_files(to_read, settings.max_file_mb * 1024 * 1024)
    skipped_names = {s.file for s in skipped}

    report = IndexReport(
        added=[n for n in plan.added if n not in skipped_names],
        updated=[n for n in plan.updated if n not in skipped_names],
        removed=list(plan.removed),
        unchanged=list(plan.unchanged),
        renamed=[{"from": old, "to": new} for old, new in plan.renamed],
        skipped=skipped,
    )
    changed = bool(plan.added or plan.updated or plan.removed or plan.renamed) or manifest is None
    # an index from before document vectors (or with older ones) gets them, passages untouched
    changed = changed or (manifest is not None and manifest.document_vectors != DOCUMENT_VECTOR_VERSION)
    if not changed:
        store = None
        report.documents = len(manifest.files) if manifest else 0
        report.chunks = sum(e.chunks for e in manifest.files.values()) if manifest else 0
    else:
        store, report.embedded_chunks, report.embedded_documents = _apply(
            settings, embedder_factory, manifest, plan, documents, progress
        )
        # an updated file that no longer reads is dropped from the index
        report.removed += [n for n in plan.updated if n in skipped_names]
        report.documents = len(store.manifest.files)
        report.chunks = store.size
    if report.documents == 0:
        reasons = "; ".join(f"{s.file}: {s.reason}" for s in skipped) or "no supported files"
        raise EmptyCorpusError(f"nothing could be indexed in {settings.corpus_dir} ({reasons})")
    return report


def _apply(
    settings: Settings,
    embedder_factory: Callable[[], Embedder],
    manifest: Manifest | None,
    plan: Plan,
    documents: dict[str, list],
    progress: bool,
) -> tuple[VectorStore, int, int]:
    """Apply the plan to a copy of the live state and save it; returns the new
    state and the numbers of chunks and of document vectors embedded."""
    if manifest is None:
        embedder = embedder_factory()
        store = VectorStore.empty(_new_manifest(settings, embedder))
    else:
        embedder = None
        store = load_store(settings.index_dir)
    gone = set(plan.updated) | set(plan.removed)
    store.remove_sources(gone)
    for name in gone:
        store.manifest.files.pop(name, None)
    for old, new in plan.renamed:
        store.rename_source(old, new)
        store.manifest.files[new] = store.manifest.files.pop(old)

    chunks_by_file: dict[str, list[Chunk]] = {
        name: [c for doc in docs for c in chunk_document(doc, settings.chunk_size, settings.chunk_overlap)]
        for name, docs in documents.items()
    }
    all_chunks = [c for chunks in chunks_by_file.values() for c in chunks]
    if all_chunks:
        embedder = embedder or embedder_factory()  # the model is loaded only when needed
        bar = Progress(len(all_chunks), progress)
        try:
            vectors = embedder.embed_passages([c.text for c in all_chunks], progress=bar)
        finally:
            bar.close()
        store.add(all_chunks, vectors)
    missing = store.documents_missing()
    if missing:
        embedder = embedder or embedder_factory()
        bar = Progress(len(missing), progress and len(missing) > 1, desc="Documents", unit="file")
        try:
            leads = [document_lead(store.source_text(name)) for name in missing]
            store.documents.set(missing, embedder.embed_passages(leads, progress=bar))
        finally:
            bar.close()
    store.manifest.document_vectors = DOCUMENT_VECTOR_VERSION
    stamp = now_iso()
    for name, docs in documents.items():
        store.manifest.files[name] = FileEntry(
            hash=docs[0].file_hash, pages=len(docs), chunks=len(chunks_by_file[name]), indexed_at=stamp
        )
    store.save(settings.index_dir)
    return store, len(all_chunks), len(missing)
