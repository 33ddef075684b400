"""Indexing spread over workers, with the PostgreSQL store (``index --distribute``, ``hdf-assistant worker``).

The coordinator plans the refresh as a single process does (hashes, renames, removals), holds the index's
writer lock, puts one job per file to read and embed on the database's queue (job_queue.py), and waits.
A worker reads its file from its own copy of the corpus, cuts it into passages, embeds them and the file's
document vector, and writes the result to ``dist_results`` (one row per run and file, written once: a
retried job finds the row done and does nothing). When every file has its row, the coordinator applies
them exactly as a single-process refresh applies what it embedded (``builder.conclude``) and commits the new
version in one transaction: the same passages and ids as a single-process build, vectors equal within the
int8 model's batch-to-batch tolerance.

A worker killed mid-file loses nothing: its job goes back to the queue when its heartbeats stop and another
worker takes it. A file whose job fails :data:`MAX_ATTEMPTS` times is reported as skipped with its error,
like a broken file, and the others are committed.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np

from hdf_assistant.errors import HdfError
from hdf_assistant.index import job_queue
from hdf_assistant.index.builder import (
    BuildOptions,
    FileWork,
    Progress,
    ProgressCallback,
    _nothing_to_index,
    conclude,
    file_chunks,
    file_entry,
    planned,
)
from hdf_assistant.index.manifest import FileEntry
from hdf_assistant.index.passages import text_of
from hdf_assistant.index.postgres import PostgresBackend
from hdf_assistant.ingest.chunking import document_lead
from hdf_assistant.ingest.reader import CorpusFile, file_sha256, read_files
from hdf_assistant.models.embedders import Embedder
from hdf_assistant.schema import Chunk, IndexReport, Skipped

log = logging.getLogger(__name__)

#: a file's job is tried this many times (an error, or its worker killed) before the file is skipped
MAX_ATTEMPTS = 3
#: the coordinator says it is waiting for workers after this long without a file done
WAITING_HINT_S = 15.0


def _results(backend: PostgresBackend) -> str:
    return f"{backend.db.schema}.dist_results"


def _ensure_results(backend: PostgresBackend) -> None:
    """The results table (and the index's schema, which the coordinator may be making at the same moment:
    a concurrent ``CREATE SCHEMA IF NOT EXISTS`` can still collide, so it is tried again)."""
    for attempt in range(5):
        try:
            with backend.db.cursor(commit=True) as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext('hdf-assistant:dist_results'))")
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {backend.db.schema}")
                cur.execute(f"""CREATE TABLE IF NOT EXISTS {_results(backend)} (
                    run text NOT NULL, source text NOT NULL, attempts int NOT NULL DEFAULT 0,
                    done boolean NOT NULL DEFAULT false, error text, work jsonb, vectors bytea,
                    document_vector bytea, PRIMARY KEY (run, source))""")
            return
        except Exception:  # a unique violation of the catalog, made by the other CREATE
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


def source_text_of(chunks: list[Chunk]) -> str:
    """A file's indexed text from its passages, as the index rebuilds it (its pages in order)."""
    ordered = sorted(chunks, key=lambda c: (c.page or 0, c.start))
    pages = list(dict.fromkeys(c.page for c in ordered))
    return "\n".join(text_of(c for c in ordered if c.page == page) for page in pages)


def process_file(options: BuildOptions, source: str, embedder: Embedder) -> tuple[FileWork | None, list[Skipped]]:
    """Read, cut and embed one file of the corpus (a worker's job): its work, or None when it cannot be
    read, and what was skipped of it (with why)."""
    path = options.corpus_dir / source
    if not path.is_file():
        return None, [Skipped(source, f"not found in the worker's corpus ({options.corpus_dir})")]
    documents, skipped = read_files([CorpusFile(source, path, file_sha256(path))], options.max_file_bytes,
                                    options.ocr)
    docs = documents.get(source)
    if not docs:
        return None, skipped
    chunks = file_chunks(docs, options)
    vectors = (embedder.embed_passages([c.text for c in chunks]) if chunks
               else np.zeros((0, embedder.dim), dtype=np.float32))
    document_vector = embedder.embed_passages([document_lead(source_text_of(chunks))])[0] if chunks else None
    return FileWork(chunks, vectors, file_entry(source, docs, chunks, skipped, options), document_vector), skipped


def _claim(backend: PostgresBackend, run: str, source: str) -> tuple[int, bool, str | None]:
    """Count one more attempt at a file; (attempts, done already, last error)."""
    with backend.db.cursor(commit=True) as cur:
        cur.execute(f"INSERT INTO {_results(backend)} (run, source, attempts) VALUES (%s, %s, 1) "
                    "ON CONFLICT (run, source) DO UPDATE SET attempts = dist_results.attempts + 1 "
                    "RETURNING attempts, done, error", (run, source))
        attempts, done, error = cur.fetchone()
    return int(attempts), bool(done), error


def _store(backend: PostgresBackend, run: str, source: str, work: FileWork | None, skipped: list[Skipped],
           model: tuple[str, int], error: str | None = None) -> None:
    payload = {"skipped": [asdict(s) for s in skipped], "model_id": model[0], "dim": model[1]}
    vectors = document_vector = None
    if work is not None:
        payload |= {"chunks": [c.to_dict() for c in work.chunks], "entry": work.entry.model_dump()}
        vectors = np.ascontiguousarray(work.vectors, dtype=np.float32).tobytes()
        if work.document_vector is not None:
            document_vector = np.asarray(work.document_vector, dtype=np.float32).tobytes()
    with backend.db.cursor(commit=True) as cur:  # written once: a late duplicate of a done job changes nothing
        cur.execute(f"UPDATE {_results(backend)} SET done = true, error = %s, work = %s, vectors = %s, "
                    "document_vector = %s WHERE run = %s AND source = %s AND NOT done",
                    (error, json.dumps(payload, ensure_ascii=False), vectors, document_vector, run, source))


def _load(row: tuple[Any, ...]) -> tuple[str, FileWork | None, list[Skipped], str, int]:
    source, work, vectors, document_vector = row
    skipped = [Skipped(**s) for s in work.get("skipped", [])]
    if "chunks" not in work:
        return source, None, skipped, work["model_id"], int(work["dim"])
    chunks = [Chunk(**c) for c in work["chunks"]]
    dim = int(work["dim"])
    matrix = np.frombuffer(bytes(vectors), dtype=np.float32).reshape(len(chunks), dim) if chunks else \
        np.zeros((0, dim), dtype=np.float32)
    doc = np.frombuffer(bytes(document_vector), dtype=np.float32) if document_vector is not None else None
    return source, FileWork(chunks, matrix, FileEntry(**work["entry"]), doc), skipped, work["model_id"], dim


def run_worker(options: BuildOptions, backend: PostgresBackend, url: str, index_name: str,
               embedder_factory: Callable[[], Embedder], stop: Callable[[], bool] | None = None) -> None:
    """Take the index's file jobs (two at most at once) until ``stop()`` (or forever)."""
    _ensure_results(backend)
    embedder = embedder_factory()
    entrypoint = job_queue.entrypoint_of(index_name)

    def handle(payload: bytes) -> None:
        job = json.loads(payload)
        run, source = job["run"], job["source"]
        attempts, done, last_error = _claim(backend, run, source)
        if done:
            return
        model = (embedder.model_id, embedder.dim)
        if attempts > MAX_ATTEMPTS:  # its workers kept dying on it
            _store(backend, run, source, None, [Skipped(source, f"failed {MAX_ATTEMPTS} times: "
                                                                f"{last_error or 'its worker stopped'}")], model)
            return
        try:
            work, skipped = process_file(options, source, embedder)
        except Exception as exc:  # the file's error, not the worker's: told to the coordinator
            log.exception("event=distributed_file_failed file=%s attempt=%d", source, attempts)
            error = f"{type(exc).__name__}: {exc}"
            if attempts >= MAX_ATTEMPTS:
                _store(backend, run, source, None, [Skipped(source, f"failed {MAX_ATTEMPTS} times: {error}")],
                       model, error)
            else:
                with backend.db.cursor(commit=True) as cur:
                    cur.execute(f"UPDATE {_results(backend)} SET error = %s WHERE run = %s AND source = %s",
                                (error, run, source))
                job_queue.enqueue(url, entrypoint, [payload])
            return
        _store(backend, run, source, work, skipped, model)
        log.info("event=distributed_file_done file=%s passages=%d", source, len(work.chunks) if work else 0)

    job_queue.work(url, entrypoint, handle, stop)


def refresh_distributed(
    options: BuildOptions,
    backend: PostgresBackend,
    url: str,
    index_name: str,
    embedder_factory: Callable[[], Embedder],
    full: bool = False,
    progress: bool = False,
    on_progress: ProgressCallback | None = None,
    timeout: float | None = None,
) -> IndexReport:
    """Plan here, read and embed on the workers, commit here (see the module's docstring)."""
    started = time.perf_counter()
    with backend.writing():
        report = _refresh(options, backend, url, index_name, embedder_factory, full, progress, on_progress, timeout)
    report.seconds = time.perf_counter() - started
    log.info("event=index_refreshed_distributed added=%d updated=%d removed=%d embedded=%d seconds=%.1f",
             len(report.added), len(report.updated), len(report.removed), report.embedded_chunks, report.seconds)
    return report


def _refresh(options: BuildOptions, backend: PostgresBackend, url: str, index_name: str,
             embedder_factory: Callable[[], Embedder], full: bool, progress: bool,
             on_progress: ProgressCallback | None, timeout: float | None) -> IndexReport:
    _, manifest, plan = planned(options, backend, full)
    to_do = sorted(set(plan.added) | set(plan.updated))
    works: dict[str, FileWork] = {}
    skipped: list[Skipped] = []
    model: tuple[str, int] | None = None
    if to_do:
        _ensure_results(backend)
        run = uuid.uuid4().hex
        job_queue.enqueue(url, job_queue.entrypoint_of(index_name),
                          [json.dumps({"run": run, "source": s}).encode() for s in to_do])
        _wait(backend, run, len(to_do), progress, on_progress, timeout)
        with backend.db.cursor() as cur:
            cur.execute(f"SELECT source, work, vectors, document_vector FROM {_results(backend)} "
                        "WHERE run = %s AND done ORDER BY source", (run,))
            rows = cur.fetchall()
        for row in rows:
            source, work, file_skipped, model_id, dim = _load(row)
            model = (model_id, dim)
            skipped += file_skipped
            if work is not None:
                works[source] = work
        with backend.db.cursor(commit=True) as cur:
            cur.execute(f"DELETE FROM {_results(backend)} WHERE run = %s", (run,))
    if manifest is None and not works:
        raise _nothing_to_index(options, skipped)
    # applied, committed and reported as a single-process refresh does
    return conclude(options, backend, embedder_factory, manifest, plan, {}, skipped, progress, on_progress, works,
                    model)


def _wait(backend: PostgresBackend, run: str, total: int, progress: bool, on_progress: ProgressCallback | None,
          timeout: float | None) -> None:
    """Until every file of the run has its row; a bar of files done."""
    bar = Progress(total, progress, desc="Files (workers)", unit="file", callback=on_progress, stage="files")
    done, last_change, hinted = 0, time.monotonic(), False
    begun = time.monotonic()
    try:
        while done < total:
            time.sleep(0.5)
            with backend.db.cursor() as cur:
                cur.execute(f"SELECT count(*) FROM {_results(backend)} WHERE run = %s AND done", (run,))
                now_done = int(cur.fetchone()[0])
            if now_done > done:
                bar(now_done - done)
                done, last_change = now_done, time.monotonic()
            elif not hinted and time.monotonic() - last_change > WAITING_HINT_S:
                log.warning("event=waiting_for_workers done=%d total=%d", done, total)
                print(f"hdf-assistant: {done}/{total} files done; waiting for workers "
                      "('hdf-assistant worker' on any machine with the corpus and HDF_DATABASE_URL)",
                      file=sys.stderr, flush=True)
                hinted = True
            if timeout is not None and time.monotonic() - begun > timeout:
                raise HdfError(f"the workers did not finish in {timeout:.0f} s ({done}/{total} files done); "
                               "nothing was committed")
    finally:
        bar.close()
