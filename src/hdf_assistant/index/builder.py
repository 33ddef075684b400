"""Build or refresh an index: corpus files -> chunks -> embeddings -> index.

Only added and changed files are read and embedded; the passages of changed
and deleted files are removed; a renamed file keeps its passages and vectors.
``full=True`` starts from an empty index. Rebuilding the keyword index and
training the approximate one are explicit steps here, before the commit that
makes the new state live.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hdf_assistant.errors import EmptyCorpusError, IndexMismatchError
from hdf_assistant.index.backend import IndexBackend, WritableIndex
from hdf_assistant.index.manifest import FileEntry, IndexSpec, Manifest, check_compatible, new_manifest, now_iso
from hdf_assistant.ingest.acronyms import definitions
from hdf_assistant.ingest.chunking import DOCUMENT_VECTOR_VERSION, chunk_document, document_lead
from hdf_assistant.ingest.dates import file_date
from hdf_assistant.ingest.ocr import INSTALL_HINT, OCR_OFF, OcrOptions, unavailable_reason
from hdf_assistant.ingest.reader import CorpusFile, read_files, scan_corpus
from hdf_assistant.models.embedders import Embedder
from hdf_assistant.schema import Chunk, IndexReport, Skipped, SourceDocument

log = logging.getLogger(__name__)


#: (stage, done, total): "passages" or "documents" embedded so far
ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BuildOptions:
    """What a refresh reads and how (built from the settings by ``assistant.build_options``)."""

    corpus_dir: Path
    #: how passages and vectors are made (the manifest's contract)
    spec: IndexSpec
    #: a larger file is skipped with that reason
    max_file_bytes: int
    ocr: OcrOptions


class _OcrProgress:
    """Pages read by OCR: a bar that appears with the first one (most corpora have none)."""

    def __init__(self, enabled: bool, callback: ProgressCallback | None) -> None:
        self._enabled, self._callback, self._bar, self._done = enabled, callback, None, 0

    def __call__(self) -> None:
        self._done += 1
        if self._enabled and self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(desc="OCR", unit="page")
        if self._bar is not None:
            self._bar.update(1)
        if self._callback is not None:
            self._callback("ocr", self._done, 0)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class Progress:
    """Counts embedded chunks; a terminal bar when asked for one, and the
    caller's callback (the API reports a refresh's progress with it)."""

    def __init__(self, total: int, enabled: bool, desc: str = "Embedding", unit: str = "chunk",
                 callback: ProgressCallback | None = None, stage: str = "passages") -> None:
        self._bar = None
        self._callback = callback
        self._stage, self._done, self._total = stage, 0, total
        if enabled and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit)
        if callback is not None:
            callback(stage, 0, total)

    def __call__(self, n: int) -> None:
        self._done += n
        if self._bar is not None:
            self._bar.update(n)
        if self._callback is not None:
            self._callback(self._stage, self._done, self._total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@dataclass(frozen=True)
class FileWork:
    """One file read, cut into passages and embedded (here, or by a worker: distributed.py)."""

    chunks: list[Chunk]
    vectors: np.ndarray
    entry: FileEntry
    #: its document vector, when the worker made it with the passages (else made at commit)
    document_vector: np.ndarray | None = None


def file_chunks(docs: list[SourceDocument], options: BuildOptions) -> list[Chunk]:
    """The passages of one file's documents."""
    return [c for doc in docs for c in chunk_document(doc, options.spec.chunk_size, options.spec.chunk_overlap)]


def file_entry(name: str, docs: list[SourceDocument], chunks: list[Chunk], skipped: list[Skipped],
               options: BuildOptions) -> FileEntry:
    """What the manifest records of one file read now."""
    return FileEntry(hash=docs[0].file_hash, pages=len(docs), chunks=len(chunks), indexed_at=now_iso(),
                     ocr_pages=sum(d.ocr for d in docs),
                     notes=[s.reason for s in skipped if s.partial and s.file == name],
                     acronyms=definitions("\n".join(d.text for d in docs)),
                     date=file_date(options.corpus_dir / name))


@dataclass(frozen=True)
class Plan:
    """What a refresh will do, file by file."""

    added: list[str]
    updated: list[str]
    removed: list[str]
    unchanged: list[str]
    #: (old name, new name): same content under another name, not re-embedded
    renamed: list[tuple[str, str]]

    @property
    def changes(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.renamed)


def plan_refresh(manifest: Manifest | None, current: dict[str, str]) -> Plan:
    """Compare the files' hashes (name -> hash) with the manifest's."""
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


def _reread_unread_scans(plan: Plan, manifest: Manifest, options: BuildOptions) -> Plan:
    """Unchanged files with scanned pages left unread because OCR could not run
    (Tesseract missing, OCR turned off) are read again once it can."""
    unread = [name for name in plan.unchanged
              if any(INSTALL_HINT in note or OCR_OFF in note for note in manifest.files[name].notes)]
    if not unread or unavailable_reason(options.ocr) is not None:
        return plan
    return replace(plan, updated=sorted(plan.updated + unread),
                   unchanged=[name for name in plan.unchanged if name not in unread])


def refresh(
    options: BuildOptions,
    backend: IndexBackend,
    embedder_factory: Callable[[], Embedder],
    full: bool = False,
    progress: bool = False,
    on_progress: ProgressCallback | None = None,
) -> IndexReport:
    """Bring the index in step with the corpus and report what changed.

    ``embedder_factory`` is only called when something must be embedded, so
    an unchanged corpus is checked without loading the model. ``progress``
    shows bars on the terminal; ``on_progress`` hears (stage, done, total).
    """
    started = time.perf_counter()
    with backend.writing():
        report = _refresh(options, backend, embedder_factory, full, progress, on_progress)
    report.seconds = time.perf_counter() - started
    log.info(
        "event=index_refreshed added=%d updated=%d removed=%d renamed=%d unchanged=%d skipped=%d embedded=%d "
        "embedded_documents=%d seconds=%.1f",
        len(report.added), len(report.updated), len(report.removed), len(report.renamed), len(report.unchanged),
        len(report.skipped), report.embedded_chunks, report.embedded_documents, report.seconds,
    )
    return report


def planned(options: BuildOptions, backend: IndexBackend, full: bool) -> tuple[list[CorpusFile], Manifest | None, Plan]:
    """The corpus's files, the live manifest (None: a full build) and what a refresh must do."""
    files = scan_corpus(options.corpus_dir)
    manifest = None if full else backend.read_manifest()
    if manifest is not None:
        try:
            check_compatible(manifest, options.spec)
        except IndexMismatchError as exc:
            raise IndexMismatchError(f"{exc} (an incremental refresh cannot change this)") from exc
    plan = plan_refresh(manifest, {f.source: f.file_hash for f in files})
    if manifest is not None:
        plan = _reread_unread_scans(plan, manifest, options)
    return files, manifest, plan


def _nothing_to_index(options: BuildOptions, skipped: list[Skipped]) -> EmptyCorpusError:
    reasons = "; ".join(f"{s.file}: {s.reason}" for s in skipped) or "no supported files"
    return EmptyCorpusError(f"nothing could be indexed in {options.corpus_dir} ({reasons})")


def _refresh(
    options: BuildOptions,
    backend: IndexBackend,
    embedder_factory: Callable[[], Embedder],
    full: bool,
    progress: bool,
    on_progress: ProgressCallback | None,
) -> IndexReport:
    files, manifest, plan = planned(options, backend, full)
    to_read = [f for f in files if f.source in set(plan.added) | set(plan.updated)]
    ocr_bar = _OcrProgress(progress, on_progress)
    try:
        documents, skipped = read_files(to_read, options.max_file_bytes, options.ocr, ocr_bar)
    finally:
        ocr_bar.close()
    if manifest is None and not documents:  # said before any model is loaded
        raise _nothing_to_index(options, skipped)
    return conclude(options, backend, embedder_factory, manifest, plan, documents, skipped, progress, on_progress)


def conclude(
    options: BuildOptions,
    backend: IndexBackend,
    embedder_factory: Callable[[], Embedder],
    manifest: Manifest | None,
    plan: Plan,
    documents: dict[str, list[SourceDocument]],
    skipped: list[Skipped],
    progress: bool,
    on_progress: ProgressCallback | None,
    works: dict[str, FileWork] | None = None,
    model: tuple[str, int] | None = None,
) -> IndexReport:
    """Apply the plan with the files read (``documents``, or ``works`` already embedded elsewhere, with their
    ``model``'s name and size), commit, and report."""
    skipped_names = {s.file for s in skipped if not s.partial}
    report = IndexReport(
        added=[n for n in plan.added if n not in skipped_names],
        updated=[n for n in plan.updated if n not in skipped_names],
        removed=list(plan.removed),
        unchanged=list(plan.unchanged),
        renamed=[{"from": old, "to": new} for old, new in plan.renamed],
        skipped=skipped,
    )
    # an index without (current) document vectors gets them, its passages untouched
    # ... and the acronyms its files define, read from the stored text
    outdated = manifest is not None and (manifest.document_vectors != DOCUMENT_VECTOR_VERSION
                                         or any(e.acronyms is None or e.date is None
                                                for e in manifest.files.values()))
    if manifest is not None and not plan.changes and not outdated:
        report.documents = len(manifest.files)
        report.chunks = manifest.chunk_count
    else:
        index, report.embedded_chunks, report.embedded_documents = _apply(
            options, backend, embedder_factory, manifest, plan, documents, skipped, progress, on_progress, works,
            model)
        # an updated file that no longer reads is dropped from the index
        report.removed += [n for n in plan.updated if n in skipped_names]
        report.documents = len(index.manifest.files)
        report.chunks = index.size
    if report.documents == 0:
        raise _nothing_to_index(options, skipped)
    return report


def _apply(
    options: BuildOptions,
    backend: IndexBackend,
    embedder_factory: Callable[[], Embedder],
    manifest: Manifest | None,
    plan: Plan,
    documents: dict[str, list[SourceDocument]],
    skipped: list[Skipped],
    progress: bool,
    on_progress: ProgressCallback | None,
    works: dict[str, FileWork] | None = None,
    model: tuple[str, int] | None = None,
) -> tuple[WritableIndex, int, int]:
    """Apply the plan to a copy of the live state and commit it; returns the
    new state and the numbers of chunks and of document vectors embedded."""
    embedder: Embedder | None = None
    if manifest is None:
        if model is None:
            embedder = embedder_factory()
            model = (embedder.model_id, embedder.dim)
        index = backend.create(new_manifest(options.spec, *model))
    else:
        index = backend.edit()
    try:
        embedded = _edit(options, index, embedder, embedder_factory, plan, documents, skipped, progress,
                         on_progress, works)
    except BaseException:
        index.discard()
        raise
    return index, *embedded


def _edit(
    options: BuildOptions,
    index: WritableIndex,
    embedder: Embedder | None,
    embedder_factory: Callable[[], Embedder],
    plan: Plan,
    documents: dict[str, list[SourceDocument]],
    skipped: list[Skipped],
    progress: bool,
    on_progress: ProgressCallback | None,
    works: dict[str, FileWork] | None = None,
) -> tuple[int, int]:
    """The plan's changes, then the explicit keyword and approximate-index
    steps, then the commit; returns the passages and document vectors embedded. ``works``: the files of
    ``documents`` already chunked and embedded elsewhere (distributed.py); else they are here."""
    files = dict(index.manifest.files)  # the next version's entries, recorded before the commit
    gone = set(plan.updated) | set(plan.removed)
    index.remove_sources(gone)
    for name in gone:
        files.pop(name, None)
    for old, new in plan.renamed:
        index.rename_source(old, new)
        files[new] = files.pop(old)

    if works is None:  # read here: chunked and embedded here, all files' passages in one run of the model
        chunks_by_file: dict[str, list[Chunk]] = {name: file_chunks(docs, options) for name, docs in documents.items()}
        all_chunks = [c for chunks in chunks_by_file.values() for c in chunks]
        vectors = np.zeros((0, 0), dtype=np.float32)
        if all_chunks:
            embedder = embedder or embedder_factory()  # the model is loaded only when needed
            bar = Progress(len(all_chunks), progress, callback=on_progress)
            try:
                vectors = embedder.embed_passages([c.text for c in all_chunks], progress=bar)
            finally:
                bar.close()
        works, row = {}, 0
        for name, docs in documents.items():
            chunks = chunks_by_file[name]
            works[name] = FileWork(chunks, vectors[row : row + len(chunks)], file_entry(name, docs, chunks, skipped,
                                                                                    options))
            row += len(chunks)
    for name, work in works.items():
        if work.chunks:
            index.replace_source(name, work.chunks, work.vectors)
    given = [name for name, work in works.items() if work.document_vector is not None and work.chunks]
    if given:  # embedded by the workers with the passages
        index.set_document_vectors(given, np.vstack([np.asarray(works[name].document_vector) for name in given]))
    missing = index.sources_without_document_vector()
    if missing:
        embedder = embedder or embedder_factory()
        bar = Progress(len(missing), progress and len(missing) > 1, desc="Documents", unit="file",
                       callback=on_progress, stage="documents")
        try:
            leads = [document_lead(index.source_text(name)) for name in missing]
            index.set_document_vectors(missing, embedder.embed_passages(leads, progress=bar))
        finally:
            bar.close()
    for name, work in works.items():
        files[name] = work.entry
    for name, entry in list(files.items()):
        if entry.acronyms is None:  # kept from an index made before acronyms were read
            files[name] = entry = entry.model_copy(update={"acronyms": definitions(index.source_text(name))})
        if entry.date is None:  # ... or before dates were
            files[name] = entry.model_copy(update={"date": file_date(options.corpus_dir / name)})
    index.record_files(files, {s.file: s.reason for s in skipped if not s.partial})
    index.update_keyword_index()
    index.update_approximate_index()
    index.commit()
    return sum(len(w.chunks) for w in works.values()), len(missing) + len(given)
