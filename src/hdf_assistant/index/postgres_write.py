"""Writing the next version of an index in PostgreSQL (``WritableIndex``):
old rows retired, new ones loaded with ``COPY``, statistics made, all in one
transaction that ``commit`` makes live at once."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from hdf_assistant.index.bookkeeping import RETIRED_GRACE_S, Bookkeeping
from hdf_assistant.index.manifest import Manifest
from hdf_assistant.index.nodes import node_metadata
from hdf_assistant.index.passages import passage_terms
from hdf_assistant.index.postgres_db import (
    CHUNK_COLUMNS,
    HNSW_EF_CONSTRUCTION,
    HNSW_M,
    LIVE,
    TABLE,
    Database,
    chunk_of,
    parse_vector,
    vector_text,
)
from hdf_assistant.index.postgres_read import PostgresIndex
from hdf_assistant.schema import Chunk

log = logging.getLogger(__name__)


class PostgresWriter(PostgresIndex, Bookkeeping):
    """The next version, written in one transaction and made live by ``commit``
    (``WritableIndex``). Its reads see its own uncommitted changes."""

    def __init__(self, db: Database, manifest: Manifest, base: int, fresh: bool) -> None:
        self._connection = db.engine.raw_connection()
        self._closed = False
        cur = self._connection.cursor()
        cur.execute(f"SELECT coalesce(max(version), 0) + 1 FROM {db.schema}.versions")
        version = int(cur.fetchone()[0])
        super().__init__(db, version, manifest, 0, 0)
        self._keyword_stale = True  # statistics to compute before commit
        self._hnsw_dropped = False
        #: passages waiting for one COPY (written before anything reads or retires)
        self._pending: list[tuple[Sequence[Chunk], np.ndarray, list[list[str]]]] = []
        #: terms whose document frequency this version changes (None: all of them)
        self._touched: set[str] | None = None if fresh else set()
        self._written = 0
        if fresh:  # a full rebuild: every live row is retired by this version
            for table in (f"data_{TABLE}", "postings", "documents", "term_stats"):
                cur.execute(f"UPDATE {db.schema}.{table} SET v_to = %s WHERE v_to IS NULL", (version,))
            cur.execute(f"SELECT count(*) FROM {db.schema}.data_{TABLE}")
            if cur.fetchone()[0] == 0:  # an empty table: load first, build the HNSW graph once after
                cur.execute(f"DROP INDEX IF EXISTS {db.schema}.data_{TABLE}_embedding_idx")
                self._hnsw_dropped = True
        #: sources with live passages not retired yet (the others need no UPDATE)
        cur.execute(f"SELECT DISTINCT source FROM {db.schema}.data_{TABLE} WHERE v_to IS NULL")
        self._live_sources = {row[0] for row in cur.fetchall()}

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        self._flush()
        yield self._connection.cursor()

    def _changed(self) -> None:
        self._keyword_stale = True
        self._by_source.clear()
        self._documents = None

    def _retire(self, sources: Collection[str], tables: Sequence[str]) -> None:
        """Retire the live rows of ``sources`` in ``tables`` (they stay visible to older versions)."""
        with self._cursor() as cur:
            if "postings" in tables and self._touched is not None:
                cur.execute(f"SELECT DISTINCT term FROM {self._db.schema}.postings "
                            "WHERE source = ANY(%(s)s) AND v_to IS NULL", self._params(s=list(sources)))
                self._touched.update(row[0] for row in cur.fetchall())
            for table in tables:
                cur.execute(f"UPDATE {self._db.schema}.{table} SET v_to = %(v)s "
                            "WHERE source = ANY(%(s)s) AND v_to IS NULL", self._params(s=list(sources)))
        self._changed()

    def _copy(self, table: str, columns: str, rows: Iterator[Sequence[Any]], nullable: str = "") -> None:
        """Bulk-load rows with COPY (CSV, text quoted; None is written as an empty
        quoted field, read back as NULL in the ``nullable`` columns)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        writer.writerows(rows)
        buffer.seek(0)
        options = f", FORCE_NULL ({nullable})" if nullable else ""
        self._connection.cursor().copy_expert(
            f"COPY {self._db.schema}.{table} ({columns}) FROM STDIN WITH (FORMAT csv{options})", buffer)

    def _insert(self, chunks: Sequence[Chunk], vectors: np.ndarray, terms: list[list[str]]) -> None:
        self._pending.append((chunks, vectors, terms))
        self._live_sources.update(c.source for c in chunks)
        self._changed()
        if sum(len(p[0]) for p in self._pending) >= 5_000:
            self._flush()

    def _flush(self) -> None:
        """Write the waiting passages and their postings, in two COPYs."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        rows = [(c, v, t, max(len(t), 1))  # as bm25s counts a passage without terms: one empty term
                for chunks, vectors, terms in pending for c, v, t in zip(chunks, vectors, terms)]
        self._copy(f"data_{TABLE}",
                   "text, metadata_, node_id, embedding, source, page, start_char, end_char, section, file_hash, "
                   "ocr, dl, v_from",
                   ((c.text, json.dumps(node_metadata(c), ensure_ascii=False), c.id, vector_text(v), c.source,
                     c.page, c.start, c.end, c.section, c.file_hash, c.ocr, n, self._version)
                    for c, v, _, n in rows),
                   nullable="page, section")
        self._copy("postings", "node_id, source, term, tf, dl, v_from",
                   ((c.id, c.source, term, tf, n, self._version)
                    for c, _, t, n in rows for term, tf in Counter(t).items()))
        if self._touched is not None:
            self._touched.update(term for _, _, t, _ in rows for term in t)
        self._written += len(rows)

    # -- WritableIndex ---------------------------------------------------------
    @property
    def size(self) -> int:
        if self._closed:  # committed: the statistics of the version made live
            return self._passages
        with self._cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {self._db.schema}.data_{TABLE} WHERE {LIVE}", self._params())
            return int(cur.fetchone()[0])

    def replace_source(self, source: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if source in self._live_sources:
            self._retire([source], [f"data_{TABLE}", "postings"])
            self._live_sources.discard(source)
        if chunks:
            self._insert(chunks, vectors, [passage_terms(c.text) for c in chunks])

    def remove_sources(self, sources: Collection[str]) -> int:
        if not sources:
            return 0
        with self._cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {self._db.schema}.data_{TABLE} "
                        f"WHERE source = ANY(%(s)s) AND {LIVE}", self._params(s=list(sources)))
            count = int(cur.fetchone()[0])
        self._retire(sources, [f"data_{TABLE}", "postings", "documents"])
        self._live_sources.difference_update(sources)
        return count

    # -- what Bookkeeping.rename_source and commit need -------------------------------------------
    def _stored(self, source: str) -> tuple[list[Chunk], np.ndarray, list[list[str]]]:
        with self._cursor() as cur:
            cur.execute(f"SELECT {CHUNK_COLUMNS}, embedding::text FROM {self._db.schema}.data_{TABLE} "
                        f"WHERE source = %(s)s AND {LIVE} ORDER BY coalesce(page, 0), start_char",
                        self._params(s=source))
            rows = cur.fetchall()
            cur.execute(f"SELECT node_id, term, tf FROM {self._db.schema}.postings WHERE source = %(s)s AND {LIVE}",
                        self._params(s=source))
            postings: dict[str, list[str]] = {}
            for node_id, term, tf in cur.fetchall():
                postings.setdefault(node_id, []).extend([term] * tf)
        if not rows:
            return [], np.zeros((0, self._manifest.dim), np.float32), []
        chunks = [chunk_of(row[:9]) for row in rows]
        return chunks, np.vstack([parse_vector(row[9]) for row in rows]), [postings.get(c.id, []) for c in chunks]

    def _move_document_vector(self, old: str, new: str) -> None:
        with self._cursor() as cur:
            cur.execute(f"INSERT INTO {self._db.schema}.documents (source, embedding, v_from) "
                        f"SELECT %(new)s, embedding, %(v)s FROM {self._db.schema}.documents "
                        f"WHERE source = %(s)s AND {LIVE}", self._params(s=old, new=new))

    def _drop(self, source: str) -> None:
        self._retire([source], [f"data_{TABLE}", "postings", "documents"])
        self._live_sources.discard(source)

    def sources_without_document_vector(self) -> list[str]:
        with self._cursor() as cur:
            cur.execute(f"SELECT DISTINCT source FROM {self._db.schema}.data_{TABLE} WHERE {LIVE} "
                        f"EXCEPT SELECT source FROM {self._db.schema}.documents WHERE {LIVE} ORDER BY 1", self._params())
            return [row[0] for row in cur.fetchall()]

    def set_document_vectors(self, sources: Sequence[str], vectors: np.ndarray) -> None:
        self._retire(sources, ["documents"])
        self._copy("documents", "source, embedding, v_from",
                   ((s, vector_text(v), self._version) for s, v in zip(sources, vectors)))

    def update_keyword_index(self) -> None:
        """The postings are written with the passages; here the statistics BM25
        needs are made for the new version: passages, total length, and the
        document frequency of every term whose postings changed, per collection (a request limited to some
        collections adds up theirs: scope.py)."""
        schema = self._db.schema
        with self._cursor() as cur:  # (after the waiting passages are written)
            cur.execute(f"SELECT count(*), coalesce(sum(dl), 0) FROM {schema}.data_{TABLE} WHERE {LIVE}",
                        self._params())
            passages, total = cur.fetchone()
            if self._written > 0.1 * max(int(passages), 1):  # a large load: fresh planner statistics
                for table in (f"data_{TABLE}", "postings"):
                    cur.execute(f"ANALYZE {schema}.{table}")
            which = "" if self._touched is None else "AND term = ANY(%(t)s)"
            touched = list(self._touched or ())
            cur.execute(f"UPDATE {schema}.term_stats SET v_to = %(v)s WHERE v_to IS NULL {which}",
                        self._params(t=touched))
            cur.execute(f"INSERT INTO {schema}.term_stats (term, collection, df, v_from) "
                        f"SELECT term, collection, count(*), %(v)s FROM {schema}.postings WHERE {LIVE} {which} "
                        "GROUP BY term, collection", self._params(t=touched))
            self._touched = set()
            if self._written > 0.1 * max(int(passages), 1):
                cur.execute(f"ANALYZE {schema}.term_stats")
        self._passages, self._total_length = int(passages), int(total)
        self._keyword_stale = False

    def update_approximate_index(self) -> None:
        """pgvector keeps the HNSW graph up to date row by row; after a first bulk
        load it is built here, once, over all the rows."""
        if self._hnsw_dropped:
            with self._cursor() as cur:
                cur.execute("SET LOCAL maintenance_work_mem = '4GB'")  # the whole graph in memory: much faster
                cur.execute(f"SET LOCAL max_parallel_maintenance_workers = {max(1, (os.cpu_count() or 2) - 1)}")
                cur.execute(f"CREATE INDEX data_{TABLE}_embedding_idx ON {self._db.schema}.data_{TABLE} "
                            f"USING hnsw (embedding vector_cosine_ops) "
                            f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})")
            self._hnsw_dropped = False

    def _ready_to_commit(self) -> None:
        self._flush()
        if self._hnsw_dropped:
            raise RuntimeError("the HNSW index is missing: call update_approximate_index() before commit()")

    def _save(self) -> str:
        manifest = self._manifest
        schema = self._db.schema
        with self._cursor() as cur:
            cur.execute(f"INSERT INTO {schema}.versions (version, manifest, passages, total_length) "
                        "VALUES (%s, %s, %s, %s)",
                        (self._version, manifest.model_dump_json(), self._passages, self._total_length))
            # rows retired by a version that has been live long enough are read by no one any more
            cur.execute(f"SELECT max(version) FROM {schema}.versions "
                        f"WHERE committed_at < now() - interval '{RETIRED_GRACE_S:g} seconds'")
            safe = cur.fetchone()[0]
            if safe is not None:
                for table in (f"data_{TABLE}", "postings", "documents", "term_stats"):
                    cur.execute(f"DELETE FROM {schema}.{table} WHERE v_to IS NOT NULL AND v_to <= %s", (safe,))
                cur.execute(f"DELETE FROM {schema}.versions WHERE version < %s", (safe,))
        self._connection.commit()
        self._connection.close()
        self._closed = True
        log.info("event=index_saved store=postgres version=%d chunks=%d", self._version, self._passages)
        return self.version

    def discard(self) -> None:
        """Give up: nothing this writer did becomes visible."""
        if self._closed:
            return
        try:
            self._connection.rollback()
        finally:
            self._connection.close()
            self._closed = True


