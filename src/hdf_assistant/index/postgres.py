"""The postgres backend: one index in a PostgreSQL database with pgvector,
shared by any number of assistant processes on any number of machines.

One schema per index (``hdf_<index_name>``) holds:

- ``data_passages``: llama-index ``PGVectorStore``'s table (text, node
  metadata, node id, the vector, an HNSW cosine index), with our columns for
  the passage's place (source, page, character span, section), its length in
  terms, and the versions it is live in;
- ``postings``: each passage's analysed terms and their counts, so that BM25
  is computed in SQL with exactly the local backend's formula and analyser;
- ``documents``: one vector per file;
- ``versions``: one row per committed state, with its manifest and the BM25
  statistics.

Every row carries ``v_from`` / ``v_to``: it is live in versions
``v_from <= v < v_to``. A writer does all its work in one transaction
(retire the old rows, ``COPY`` the new ones, add the version row) and commits
once, so a reader sees the old version or the new one. A reader pins the live
version when it opens the index and filters every query by it, so the several
queries of one question never mix two versions; it moves to a newer version
at its next question (``Assistant.follow_index``). Retired rows are deleted
ten minutes after the version that retired them went live. Two writers are
serialized by an advisory lock.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import socket
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from hdf_assistant.analysis import analyze_query
from hdf_assistant.chunking import DOCUMENT_VECTOR_VERSION, Span, chunk_id
from hdf_assistant.errors import ConfigError, IndexBusyError, IndexCorruptError, IndexMissingError
from hdf_assistant.index.documents import DocumentScores, DocumentVectors
from hdf_assistant.index.keyword import K1, B
from hdf_assistant.index.manifest import FORMAT_VERSION, REBUILD, Manifest, now_iso, parse_manifest
from hdf_assistant.index.nodes import node_metadata, node_to_chunk
from hdf_assistant.index.passages import passage_terms, text_of
from hdf_assistant.schema import Chunk, ScoredChunk

log = logging.getLogger(__name__)

#: HNSW parameters (pgvector): graph degree, build and search breadth
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 100
#: retired rows are deleted once the version that retired them has been live this long
RETIRED_GRACE = "10 minutes"
_TABLE = "passages"  # PGVectorStore names its table data_<table_name>
_LIVE = "v_from <= %(v)s AND (v_to IS NULL OR v_to > %(v)s)"
_CHUNK_COLUMNS = "node_id, text, source, page, start_char, end_char, file_hash, section"
INSTALL = "pip install -e '.[postgres]'"


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"the postgres store needs its extra ({exc.name} is missing): {INSTALL}") from exc


def sqlalchemy_url(url: str, driver: str = "psycopg2") -> str:
    """``url`` with an explicit driver ("postgresql://..." -> "postgresql+psycopg2://...")."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise ConfigError(f"HDF_DATABASE_URL must start with postgresql://, not '{url[:30]}'")
    return f"postgresql+{driver}://{rest}"


def _vector_text(vector: np.ndarray) -> str:
    """pgvector's text form; float32 values printed exactly (shortest repr)."""
    return "[" + ",".join(map(str, np.asarray(vector, dtype=np.float32).tolist())) + "]"


def _parse_vector(text: str) -> np.ndarray:
    return np.asarray(json.loads(text), dtype=np.float32)


def _chunk_of(row: Sequence[Any]) -> Chunk:
    node_id, text, source, page, start, end, file_hash, section = row
    return Chunk(node_id, text, source, page, start, end, file_hash, section)


class Database:
    """The connection pool and the schema of one index."""

    def __init__(self, url: str, index_name: str) -> None:
        sqlalchemy = _require("sqlalchemy")
        _require("psycopg2")
        self.url = url
        self.index_name = index_name
        self.schema = f"hdf_{index_name}"
        # a filtered HNSW scan goes on until it has enough live rows (pgvector 0.8)
        self.engine = sqlalchemy.create_engine(
            sqlalchemy_url(url), pool_pre_ping=True, pool_size=4,
            connect_args={"options": "-c hnsw.iterative_scan=relaxed_order", "application_name": "hdf-assistant"},
        )
        self._store: Any = None

    @property
    def where(self) -> str:
        """How messages name this index."""
        return f"index '{self.index_name}' in the database"

    @contextmanager
    def cursor(self, commit: bool = False) -> Iterator[Any]:
        """A cursor on a pooled connection: one transaction, rolled back (or committed) at the end."""
        connection = self.engine.raw_connection()
        try:
            cur = connection.cursor()
            try:
                yield cur
            except BaseException:
                connection.rollback()
                raise
            if commit:
                connection.commit()
            else:
                connection.rollback()
        finally:
            connection.close()

    def exists(self) -> bool:
        with self.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{self.schema}.versions",))
            return bool(cur.fetchone()[0])

    def dim(self) -> int | None:
        """The vector size of the passages table, if it exists."""
        with self.cursor() as cur:
            cur.execute(
                "SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = 'embedding'",
                (f"{self.schema}.data_{_TABLE}",))
            row = cur.fetchone()
            return int(row[0]) if row else None

    def vector_store(self, dim: int, setup: bool = False) -> Any:
        """llama-index's ``PGVectorStore`` on the passages table (HNSW, cosine)."""
        if self._store is not None and not setup:
            return self._store
        postgres = _require("llama_index.vector_stores.postgres")
        from sqlalchemy.ext.asyncio import create_async_engine

        store = postgres.PGVectorStore(
            table_name=_TABLE,
            schema_name=self.schema,
            embed_dim=dim,
            use_jsonb=True,
            perform_setup=setup,
            hnsw_kwargs={"hnsw_m": HNSW_M, "hnsw_ef_construction": HNSW_EF_CONSTRUCTION,
                         "hnsw_ef_search": HNSW_EF_SEARCH, "hnsw_dist_method": "vector_cosine_ops"},
            engine=self.engine,
            async_engine=create_async_engine(sqlalchemy_url(self.url, "asyncpg")),
            customize_query_fn=_live_only,
            initialization_fail_on_error=True,
        )
        if not setup:
            self._store = store
        return store

    def setup(self, dim: int) -> None:
        """Create the schema and its tables (idempotent); a schema made for
        another vector size is dropped first (its model no longer matches)."""
        existing = self.dim()
        if existing is not None and existing != dim:
            log.warning("event=drop_index schema=%s old_dim=%d new_dim=%d", self.schema, existing, dim)
            with self.cursor(commit=True) as cur:
                cur.execute(f"DROP SCHEMA {self.schema} CASCADE")
        self.vector_store(dim, setup=True).add([])  # PGVectorStore creates extension, schema, table, HNSW index
        with self.cursor(commit=True) as cur:
            table = f"{self.schema}.data_{_TABLE}"
            cur.execute(f"""
                ALTER TABLE {table}
                  ADD COLUMN IF NOT EXISTS source text, ADD COLUMN IF NOT EXISTS page int,
                  ADD COLUMN IF NOT EXISTS start_char int, ADD COLUMN IF NOT EXISTS end_char int,
                  ADD COLUMN IF NOT EXISTS section text, ADD COLUMN IF NOT EXISTS file_hash text,
                  ADD COLUMN IF NOT EXISTS dl int, ADD COLUMN IF NOT EXISTS v_from int NOT NULL DEFAULT 0,
                  ADD COLUMN IF NOT EXISTS v_to int;
                CREATE INDEX IF NOT EXISTS passages_node ON {table} (node_id);
                CREATE INDEX IF NOT EXISTS passages_source ON {table} (source);
                CREATE TABLE IF NOT EXISTS {self.schema}.postings (
                  node_id text NOT NULL, source text NOT NULL, term text NOT NULL, tf int NOT NULL, dl int NOT NULL,
                  v_from int NOT NULL, v_to int);
                CREATE INDEX IF NOT EXISTS postings_term ON {self.schema}.postings (term);
                CREATE INDEX IF NOT EXISTS postings_source ON {self.schema}.postings (source);
                CREATE TABLE IF NOT EXISTS {self.schema}.documents (
                  source text NOT NULL, embedding vector({dim}) NOT NULL, v_from int NOT NULL, v_to int);
                CREATE TABLE IF NOT EXISTS {self.schema}.versions (
                  version int PRIMARY KEY, manifest jsonb NOT NULL, passages bigint NOT NULL,
                  total_length bigint NOT NULL, committed_at timestamptz NOT NULL DEFAULT now());
                CREATE TABLE IF NOT EXISTS {self.schema}.writer (id int PRIMARY KEY, holder text, since timestamptz);
            """)

    def live(self) -> tuple[int, dict[str, Any], int, int] | None:
        """(version, manifest, passages, total length) of the live version, or None."""
        if not self.exists():
            return None
        with self.cursor() as cur:
            cur.execute(f"SELECT version, manifest, passages, total_length FROM {self.schema}.versions "
                        "ORDER BY version DESC LIMIT 1")
            row = cur.fetchone()
        return (int(row[0]), row[1], int(row[2]), int(row[3])) if row else None


def _live_only(stmt: Any, table: Any, **kwargs: Any) -> Any:
    """``PGVectorStore`` query hook: only the rows live in the reader's version."""
    from sqlalchemy import text

    version = kwargs["hdf_version"]
    return stmt.where(text("v_from <= :hdf_v AND (v_to IS NULL OR v_to > :hdf_v)").bindparams(hdf_v=version))


class PostgresIndex:
    """One version of an index in the database, for answering (``SearchIndex``)."""

    def __init__(self, db: Database, version: int, manifest: Manifest, passages: int, total_length: int) -> None:
        self._db = db
        self._version = version
        self._manifest = manifest
        self._passages = passages
        self._total_length = total_length
        self._chunks: dict[str, Chunk] = {}  # chunk ids name their content: valid in every version
        self._by_source: dict[str, list[str]] = {}
        self._documents: DocumentVectors | None = None

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        with self._db.cursor() as cur:
            yield cur

    def _params(self, **values: Any) -> dict[str, Any]:
        return {"v": self._version, **values}

    # -- SearchIndex -----------------------------------------------------------
    @property
    def manifest(self) -> Manifest:
        return self._manifest

    @property
    def version(self) -> str:
        return str(self._version)

    @property
    def size(self) -> int:
        return self._passages

    @property
    def has_document_vectors(self) -> bool:
        return len(self._document_vectors()) > 0

    def chunk(self, chunk_id: str) -> Chunk:
        if chunk_id not in self._chunks:
            self._fetch([chunk_id])
        return self._chunks[chunk_id]

    def _fetch(self, chunk_ids: Sequence[str]) -> None:
        missing = [cid for cid in chunk_ids if cid not in self._chunks]
        if not missing:
            return
        with self._cursor() as cur:
            cur.execute(f"SELECT {_CHUNK_COLUMNS} FROM {self._db.schema}.data_{_TABLE} "
                        f"WHERE node_id = ANY(%(ids)s) AND {_LIVE}", self._params(ids=list(missing)))
            for row in cur.fetchall():
                self._chunks[row[0]] = _chunk_of(row)
        if len(self._chunks) > 200_000:  # bounded: most recent questions' passages
            for cid in list(self._chunks)[:100_000]:
                del self._chunks[cid]

    def chunk_ids_of(self, source: str) -> list[str]:
        if source not in self._by_source:
            with self._cursor() as cur:
                cur.execute(f"SELECT {_CHUNK_COLUMNS} FROM {self._db.schema}.data_{_TABLE} "
                            f"WHERE source = %(s)s AND {_LIVE} ORDER BY coalesce(page, 0), start_char",
                            self._params(s=source))
                chunks = [_chunk_of(row) for row in cur.fetchall()]
            self._chunks.update((c.id, c) for c in chunks)
            if len(self._by_source) > 10_000:
                self._by_source.clear()
            self._by_source[source] = [c.id for c in chunks]
        return list(self._by_source[source])

    def sources(self) -> list[str]:
        with self._cursor() as cur:
            cur.execute(f"SELECT DISTINCT source FROM {self._db.schema}.data_{_TABLE} WHERE {_LIVE} ORDER BY source",
                        self._params())
            return [row[0] for row in cur.fetchall()]

    def page_text(self, source: str, page: int | None) -> str:
        return text_of(c for c in map(self.chunk, self.chunk_ids_of(source)) if c.page == page)

    def source_text(self, source: str) -> str:
        pages = list(dict.fromkeys(self.chunk(cid).page for cid in self.chunk_ids_of(source)))
        return "\n".join(self.page_text(source, page) for page in pages)

    def search(self, vector: np.ndarray, k: int) -> list[ScoredChunk]:
        """Nearest passages through ``PGVectorStore`` (HNSW), live in this version."""
        if k <= 0 or self._passages == 0:
            return []
        from llama_index.core.vector_stores.types import VectorStoreQuery

        store = self._db.vector_store(self._manifest.dim)
        query = VectorStoreQuery(query_embedding=np.asarray(vector, dtype=np.float32).tolist(), similarity_top_k=k)
        result = store.query(query, hdf_version=self._version)
        hits = []
        for node, similarity in zip(result.nodes or [], result.similarities or []):
            chunk = node_to_chunk(node)
            self._chunks.setdefault(chunk.id, chunk)
            hits.append(ScoredChunk(chunk, float(similarity)))
        hits.sort(key=lambda h: -h.score)  # an iterative scan may return them slightly out of order
        return hits

    def search_exact(self, vector: np.ndarray, k: int) -> list[ScoredChunk]:
        """The exact ``k`` nearest passages (a scan, no index): the reference for recall."""
        with self._cursor() as cur:
            cur.execute("SET LOCAL enable_indexscan = off")
            cur.execute(f"SELECT {_CHUNK_COLUMNS}, 1 - (embedding <=> %(q)s::vector) AS score "
                        f"FROM {self._db.schema}.data_{_TABLE} WHERE {_LIVE} "
                        "ORDER BY embedding <=> %(q)s::vector LIMIT %(k)s",
                        self._params(q=_vector_text(vector), k=k))
            return [ScoredChunk(_chunk_of(row[:8]), float(row[8])) for row in cur.fetchall()]

    def dense_scores(self, vector: np.ndarray, chunk_ids: Sequence[str]) -> np.ndarray:
        if not chunk_ids:
            return np.zeros(0, dtype=np.float32)
        with self._cursor() as cur:
            cur.execute(f"SELECT node_id, 1 - (embedding <=> %(q)s::vector) FROM {self._db.schema}.data_{_TABLE} "
                        f"WHERE node_id = ANY(%(ids)s) AND {_LIVE}",
                        self._params(q=_vector_text(vector), ids=list(chunk_ids)))
            scores = dict(cur.fetchall())
        return np.array([scores.get(cid, 0.0) for cid in chunk_ids], dtype=np.float32)

    def _document_vectors(self) -> DocumentVectors:
        if self._documents is None:
            with self._cursor() as cur:
                cur.execute(f"SELECT source, embedding::text FROM {self._db.schema}.documents WHERE {_LIVE}",
                            self._params())
                self._documents = DocumentVectors({s: _parse_vector(v) for s, v in cur.fetchall()})
        return self._documents

    def document_scores(self, vector: np.ndarray) -> DocumentScores | None:
        documents = self._document_vectors()
        return documents.scores(vector) if len(documents) else None

    def _bm25(self, question: str, k: int | None, chunk_ids: Sequence[str] | None) -> list[tuple[str, float]]:
        """BM25 in SQL, the local backend's formula: idf ln(1 + (N - df + 0.5)/(df + 0.5)) times
        tf / (tf + k1 (1 - b + b dl / avgdl)), summed over the question's terms (repeats count)."""
        counts = Counter(analyze_query(question))
        if not counts or self._passages == 0 or (chunk_ids is not None and not chunk_ids):
            return []
        only = "AND p.node_id = ANY(%(ids)s)" if chunk_ids is not None else ""
        limit = "LIMIT %(k)s" if k is not None else ""
        sql = f"""
            WITH q AS (SELECT * FROM unnest(%(terms)s::text[], %(counts)s::int[]) AS q(term, n)),
            df AS (SELECT p.term, count(*) AS df FROM {self._db.schema}.postings p JOIN q USING (term)
                   WHERE p.v_from <= %(v)s AND (p.v_to IS NULL OR p.v_to > %(v)s) GROUP BY p.term)
            SELECT p.node_id, sum(q.n * ln(1 + (%(N)s - df.df + 0.5) / (df.df + 0.5))
                                  * p.tf / (p.tf + %(k1)s * ((1 - %(b)s) + %(b)s * p.dl / %(avgdl)s))) AS score
            FROM {self._db.schema}.postings p JOIN q USING (term) JOIN df USING (term)
            WHERE p.v_from <= %(v)s AND (p.v_to IS NULL OR p.v_to > %(v)s) {only}
            GROUP BY p.node_id ORDER BY score DESC, p.node_id {limit}"""
        params = self._params(terms=list(counts), counts=list(counts.values()), N=self._passages, k1=K1, b=B,
                              avgdl=self._total_length / self._passages, k=k, ids=list(chunk_ids or []))
        with self._cursor() as cur:
            cur.execute(sql, params)
            return [(cid, float(score)) for cid, score in cur.fetchall() if score > 0]

    def keyword_search(self, question: str, k: int) -> list[ScoredChunk]:
        top = self._bm25(question, k, None)
        self._fetch([cid for cid, _ in top])
        return [ScoredChunk(self._chunks[cid], score) for cid, score in top if cid in self._chunks]

    def keyword_scores(self, question: str, chunk_ids: Sequence[str]) -> np.ndarray:
        scores = dict(self._bm25(question, None, chunk_ids))
        return np.array([scores.get(cid, 0.0) for cid in chunk_ids], dtype=np.float32)

    def document_frequency(self, terms: Sequence[str]) -> dict[str, int]:
        with self._cursor() as cur:
            cur.execute(f"SELECT term, count(*) FROM {self._db.schema}.postings "
                        f"WHERE term = ANY(%(t)s) AND {_LIVE} GROUP BY term", self._params(t=list(set(terms))))
            found = dict(cur.fetchall())
        return {t: int(found.get(t, 0)) for t in terms}


class PostgresWriter(PostgresIndex):
    """The next version, written in one transaction and made live by ``commit``
    (``WritableIndex``). Its reads see its own uncommitted changes."""

    def __init__(self, db: Database, manifest: Manifest, base: int, fresh: bool) -> None:
        self._connection = db.engine.raw_connection()
        self._closed = False
        cur = self._connection.cursor()
        cur.execute(f"SELECT coalesce(max(version), 0) + 1 FROM {db.schema}.versions")
        version = int(cur.fetchone()[0])
        super().__init__(db, version, manifest, 0, 0)
        self._stale = True  # statistics to compute before commit
        self._hnsw_dropped = False
        #: passages waiting for one COPY (written before anything reads or retires)
        self._pending: list[tuple[Sequence[Chunk], np.ndarray, list[list[str]]]] = []
        if fresh:  # a full rebuild: every live row is retired by this version
            for table in (f"data_{_TABLE}", "postings", "documents"):
                cur.execute(f"UPDATE {db.schema}.{table} SET v_to = %s WHERE v_to IS NULL", (version,))
            cur.execute(f"SELECT count(*) FROM {db.schema}.data_{_TABLE}")
            if cur.fetchone()[0] == 0:  # an empty table: load first, build the HNSW graph once after
                cur.execute(f"DROP INDEX IF EXISTS {db.schema}.data_{_TABLE}_embedding_idx")
                self._hnsw_dropped = True
        #: sources with live passages not retired yet (the others need no UPDATE)
        cur.execute(f"SELECT DISTINCT source FROM {db.schema}.data_{_TABLE} WHERE v_to IS NULL")
        self._live_sources = {row[0] for row in cur.fetchall()}

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        self._flush()
        yield self._connection.cursor()

    def _changed(self) -> None:
        self._stale = True
        self._by_source.clear()
        self._documents = None

    def _retire(self, sources: Collection[str], tables: Sequence[str]) -> None:
        """Retire the live rows of ``sources`` in ``tables`` (they stay visible to older versions)."""
        with self._cursor() as cur:
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
        self._chunks.update((c.id, c) for c in chunks)
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
        self._copy(f"data_{_TABLE}",
                   "text, metadata_, node_id, embedding, source, page, start_char, end_char, section, file_hash, "
                   "dl, v_from",
                   ((c.text, json.dumps(node_metadata(c), ensure_ascii=False), c.id, _vector_text(v), c.source,
                     c.page, c.start, c.end, c.section, c.file_hash, n, self._version) for c, v, _, n in rows),
                   nullable="page, section")
        self._copy("postings", "node_id, source, term, tf, dl, v_from",
                   ((c.id, c.source, term, tf, n, self._version)
                    for c, _, t, n in rows for term, tf in Counter(t).items()))

    # -- WritableIndex ---------------------------------------------------------
    @property
    def size(self) -> int:
        if self._closed:  # committed: the statistics of the version made live
            return self._passages
        with self._cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {self._db.schema}.data_{_TABLE} WHERE {_LIVE}", self._params())
            return int(cur.fetchone()[0])

    def replace_source(self, source: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if source in self._live_sources:
            self._retire([source], [f"data_{_TABLE}", "postings"])
            self._live_sources.discard(source)
        if chunks:
            self._insert(chunks, vectors, [passage_terms(c.text) for c in chunks])

    def remove_sources(self, sources: Collection[str]) -> int:
        if not sources:
            return 0
        with self._cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {self._db.schema}.data_{_TABLE} "
                        f"WHERE source = ANY(%(s)s) AND {_LIVE}", self._params(s=list(sources)))
            count = int(cur.fetchone()[0])
        self._retire(sources, [f"data_{_TABLE}", "postings", "documents"])
        self._live_sources.difference_update(sources)
        return count

    def rename_source(self, old: str, new: str) -> int:
        with self._cursor() as cur:
            cur.execute(f"SELECT {_CHUNK_COLUMNS}, embedding::text FROM {self._db.schema}.data_{_TABLE} "
                        f"WHERE source = %(s)s AND {_LIVE} ORDER BY coalesce(page, 0), start_char", self._params(s=old))
            rows = cur.fetchall()
            cur.execute(f"SELECT node_id, term, tf FROM {self._db.schema}.postings WHERE source = %(s)s AND {_LIVE}",
                        self._params(s=old))
            postings: dict[str, list[str]] = {}
            for node_id, term, tf in cur.fetchall():
                postings.setdefault(node_id, []).extend([term] * tf)
        if not rows:
            return 0
        moved = [_chunk_of(row[:8]) for row in rows]
        renamed = [Chunk(chunk_id(new, c.file_hash, c.page, Span(c.start, c.end)), c.text, new, c.page, c.start, c.end,
                         c.file_hash, c.section) for c in moved]
        vectors = np.vstack([_parse_vector(row[8]) for row in rows])
        terms = [postings.get(c.id, []) for c in moved]
        with self._cursor() as cur:
            cur.execute(f"INSERT INTO {self._db.schema}.documents (source, embedding, v_from) "
                        f"SELECT %(new)s, embedding, %(v)s FROM {self._db.schema}.documents "
                        f"WHERE source = %(s)s AND {_LIVE}", self._params(s=old, new=new))
        self._retire([old], [f"data_{_TABLE}", "postings", "documents"])
        self._live_sources.discard(old)
        self._insert(renamed, vectors, terms)
        return len(renamed)

    def sources_without_document_vector(self) -> list[str]:
        with self._cursor() as cur:
            cur.execute(f"SELECT DISTINCT source FROM {self._db.schema}.data_{_TABLE} WHERE {_LIVE} "
                        f"EXCEPT SELECT source FROM {self._db.schema}.documents WHERE {_LIVE} ORDER BY 1", self._params())
            return [row[0] for row in cur.fetchall()]

    def set_document_vectors(self, sources: Sequence[str], vectors: np.ndarray) -> None:
        self._retire(sources, ["documents"])
        self._copy("documents", "source, embedding, v_from",
                   ((s, _vector_text(v), self._version) for s, v in zip(sources, vectors)))

    def update_keyword_index(self) -> None:
        """The postings are written with the passages; here the corpus statistics
        BM25 needs (passages, total length) are computed for the new version."""
        with self._cursor() as cur:  # (after the waiting passages are written)
            cur.execute(f"SELECT count(*), coalesce(sum(dl), 0) FROM {self._db.schema}.data_{_TABLE} WHERE {_LIVE}",
                        self._params())
            passages, total = cur.fetchone()
        self._passages, self._total_length = int(passages), int(total)
        self._stale = False

    def update_approximate_index(self) -> None:
        """pgvector keeps the HNSW graph up to date row by row; after a first bulk
        load it is built here, once, over all the rows."""
        if self._hnsw_dropped:
            with self._cursor() as cur:
                cur.execute("SET LOCAL maintenance_work_mem = '1GB'")
                cur.execute(f"SET LOCAL max_parallel_maintenance_workers = {max(1, (os.cpu_count() or 2) - 1)}")
                cur.execute(f"CREATE INDEX data_{_TABLE}_embedding_idx ON {self._db.schema}.data_{_TABLE} "
                            f"USING hnsw (embedding vector_cosine_ops) "
                            f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})")
            self._hnsw_dropped = False

    def commit(self) -> str:
        self._flush()
        if self._stale:
            raise RuntimeError("the keyword statistics are out of date: call update_keyword_index() before commit()")
        if self._hnsw_dropped:
            raise RuntimeError("the HNSW index is missing: call update_approximate_index() before commit()")
        manifest = self._manifest
        manifest.format_version = FORMAT_VERSION
        manifest.document_vectors = DOCUMENT_VECTOR_VERSION
        manifest.built_at = now_iso()
        schema = self._db.schema
        with self._cursor() as cur:
            cur.execute(f"INSERT INTO {schema}.versions (version, manifest, passages, total_length) "
                        "VALUES (%s, %s, %s, %s)",
                        (self._version, manifest.model_dump_json(), self._passages, self._total_length))
            # rows retired by a version that has been live long enough are read by no one any more
            cur.execute(f"SELECT max(version) FROM {schema}.versions "
                        f"WHERE committed_at < now() - interval '{RETIRED_GRACE}'")
            safe = cur.fetchone()[0]
            if safe is not None:
                for table in (f"data_{_TABLE}", "postings", "documents"):
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


class PostgresBackend:
    """Indexes in a PostgreSQL database with pgvector (``store = "postgres"``)."""

    name = "postgres"

    def __init__(self, url: str, index_name: str) -> None:
        self.db = Database(url, index_name)

    def live_version(self) -> str | None:
        if not self.db.exists():
            return None
        with self.db.cursor() as cur:
            cur.execute(f"SELECT max(version) FROM {self.db.schema}.versions")
            version = cur.fetchone()[0]
        return None if version is None else str(version)

    def _live(self) -> tuple[int, Manifest, int, int] | None:
        live = self.db.live()
        if live is None:
            return None
        version, data, passages, total = live
        manifest = parse_manifest(json.dumps(data), f"the manifest of {self.db.where} (version {version})")
        return version, manifest, passages, total

    def read_manifest(self) -> Manifest | None:
        live = self._live()
        return live[1] if live else None

    def open(self) -> PostgresIndex:
        live = self._live()
        if live is None:
            raise IndexMissingError(f"no {self.db.where}: run hdf-assistant index")
        version, manifest, passages, total = live
        return PostgresIndex(self.db, version, manifest, passages, total)

    def create(self, manifest: Manifest) -> PostgresWriter:
        self.db.setup(manifest.dim)
        return PostgresWriter(self.db, manifest, 0, fresh=True)

    def edit(self) -> PostgresWriter:
        live = self._live()
        if live is None:
            raise IndexMissingError(f"no {self.db.where}: run hdf-assistant index")
        version, manifest, _, _ = live
        if self.db.dim() != manifest.dim:
            raise IndexCorruptError(f"{self.db.where} does not match its manifest; rebuild it with: {REBUILD}")
        return PostgresWriter(self.db, manifest, version, fresh=False)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """An advisory lock held for the whole update; a second writer is refused."""
        holder = f"pid {os.getpid()} on {socket.gethostname()}"
        key = f"hdf-assistant:{self.db.schema}"
        connection = self.db.engine.raw_connection()
        try:
            cur = connection.cursor()
            cur.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,))  # held by the session
            acquired = cur.fetchone()[0]
            connection.commit()
            if not acquired:
                other = "?"
                if self.db.exists():
                    cur.execute(f"SELECT holder FROM {self.db.schema}.writer WHERE id = 1")
                    row = cur.fetchone()
                    other = row[0] if row else "?"
                    connection.rollback()
                raise IndexBusyError(f"another 'hdf-assistant index' ({other}) is updating the {self.db.where}; "
                                     "try again when it has finished")
            try:
                if self.db.exists():
                    cur.execute(f"INSERT INTO {self.db.schema}.writer VALUES (1, %s, now()) "
                                "ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, since = now()", (holder,))
                    connection.commit()
                yield
            finally:
                cur.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
                connection.commit()
        finally:
            connection.close()
