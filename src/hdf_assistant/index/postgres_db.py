"""PostgreSQL plumbing of the postgres backend: connections, the schema of an
index, and the SQL pieces its reader and writer share (see postgres.py)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from hdf_assistant.errors import ConfigError
from hdf_assistant.index.keyword import K1, B
from hdf_assistant.schema import Chunk

if TYPE_CHECKING:
    from hdf_assistant.index.scope import Scope

log = logging.getLogger(__name__)

#: HNSW parameters (pgvector): graph degree, build and search breadth, chosen on development questions at a
#: million distinct passage vectors (benchmarks/pg_million.py; benchmarks/README.md, "PostgreSQL at a million
#: passages"): m 16 with ef_construction 64 reached recall@10 0.951 only at ef_search 1000; ef_construction 128
#: reaches 0.975 at ef_search 800 (p50 49 ms), the cheapest build meeting 0.97; 400 gave 0.942
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 128
HNSW_EF_SEARCH = 800
TABLE = "passages"  # PGVectorStore names its table data_<table_name>
LIVE = "v_from <= %(v)s AND (v_to IS NULL OR v_to > %(v)s)"
CHUNK_COLUMNS = "node_id, text, source, page, start_char, end_char, file_hash, section, ocr"
INSTALL = "pip install -e '.[postgres]'"
#: a passage's collection (schema.collection_of), computed by the database from its file and stored with it
COLLECTION = ("collection text GENERATED ALWAYS AS (CASE WHEN strpos(source, '/') > 1 "
              "THEN split_part(source, '/', 1) ELSE 'general' END) STORED")
#: the rows a scope (scope.py) allows: its collections and, when it names them, its files


def in_scope(scope: Scope, alias: str = "") -> str:
    """The SQL condition of rows inside ``scope`` (parameters ``cols``, ``srcs``: ``PostgresIndex._params``).
    Without a file list it names no ``source``, so that an index carrying the collection (the postings'
    ``POSTINGS_INDEX``) answers alone."""
    condition = f"{alias}collection = ANY(%(cols)s)"
    return condition if scope.sql_sources is None else f"{condition} AND {alias}source = ANY(%(srcs)s)"


#: Keyword candidates: each term's postings of highest weight, at most this many
#: (a term in fewer passages contributes all of them, so small corpora are exact)
POSTINGS_PER_TERM = 2000
#: a posting's BM25 weight with a typical length (40 terms): the order of the index that serves the candidates
IMPACT = f"(p.tf::float8 / (p.tf + {K1} * ({1 - B} + {B} * p.dl / 40.0)))"
#: the index that serves them, heaviest first, carrying every column the candidate query reads, so that
#: the scan checks version and collection without visiting the table (an index-only scan): inside a
#: collection of 9 % of a million passages, 17.7 ms instead of 454 (benchmarks/README.md)
POSTINGS_INDEX = "postings_impact_cover"


def postings_index_sql(schema: str) -> str:
    return (f"CREATE INDEX IF NOT EXISTS {POSTINGS_INDEX} ON {schema}.postings (term, {IMPACT.replace('p.', '')} DESC) "
            "INCLUDE (node_id, tf, dl, v_from, v_to, collection)")


def require(module: str) -> Any:
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


def vector_text(vector: np.ndarray) -> str:
    """pgvector's text form; float32 values printed exactly (shortest repr)."""
    return "[" + ",".join(map(str, np.asarray(vector, dtype=np.float32).tolist())) + "]"


def parse_vector(text: str) -> np.ndarray:
    return np.asarray(json.loads(text), dtype=np.float32)


def chunk_of(row: Sequence[Any]) -> Chunk:
    node_id, text, source, page, start, end, file_hash, section, ocr = row
    return Chunk(node_id, text, source, page, start, end, file_hash, section, bool(ocr))


_ENGINES: dict[tuple[str, str], Any] = {}
_ENGINES_LOCK = threading.Lock()


def shared_engine(url: str, driver: str = "psycopg2") -> Any:
    """The process's one SQLAlchemy engine (connection pool) for ``url``: every backend, refresh and
    reader of the same database shares it, so opening the index again adds no pool."""
    key = (url, driver)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            if driver == "asyncpg":
                from sqlalchemy.ext.asyncio import create_async_engine

                engine = create_async_engine(sqlalchemy_url(url, "asyncpg"))
            else:
                sqlalchemy = require("sqlalchemy")
                # a filtered HNSW scan goes on until it has enough live rows (pgvector 0.8)
                engine = sqlalchemy.create_engine(
                    sqlalchemy_url(url), pool_pre_ping=True, pool_size=4,
                    connect_args={"options": "-c hnsw.iterative_scan=relaxed_order",
                                  "application_name": "hdf-assistant"},
                )
            _ENGINES[key] = engine
        return engine


def dispose_engines() -> int:
    """Close every pooled connection of the process's engines and forget them (at shutdown); returns
    how many engines there were. A later ``shared_engine`` makes a new one."""
    with _ENGINES_LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
    for engine in engines:
        getattr(engine, "sync_engine", engine).dispose()
    return len(engines)


class Database:
    """The schema of one index, on the process's shared connection pool."""

    def __init__(self, url: str, index_name: str) -> None:
        require("psycopg2")
        self.url = url
        self.index_name = index_name
        self.schema = f"hdf_{index_name}"
        self.engine = shared_engine(url)
        self._store: Any = None
        self._upgraded = False

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
                (f"{self.schema}.data_{TABLE}",))
            row = cur.fetchone()
            return int(row[0]) if row else None

    def _has_column(self, table: str, column: str) -> bool:
        with self.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s",
                        (table, column))
            return cur.fetchone() is not None

    def upgrade(self) -> None:
        """Columns added since an index was created (``ocr``; ``collection`` on passages and postings,
        computed from the file names) and the postings' covering index, added once: an index made by an
        earlier version keeps working without a rebuild."""
        if self._upgraded:
            return
        table = f"{self.schema}.data_{TABLE}"
        if self.dim() is not None:
            if not self._has_column(table, "ocr"):
                with self.cursor(commit=True) as cur:
                    cur.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS ocr boolean NOT NULL DEFAULT false")
            for name in (table, f"{self.schema}.postings"):
                if not self._has_column(name, "collection"):
                    log.info("event=index_upgrade table=%s column=collection", name)
                    with self.cursor(commit=True) as cur:
                        cur.execute(f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS {COLLECTION}")
            stats = f"{self.schema}.term_stats"
            if not self._has_column(stats, "collection"):
                # document frequencies per collection, counted again once from the live postings (valid for
                # every version: a version older than the upgrade is only read for RETIRED_GRACE_S)
                log.info("event=index_upgrade table=%s column=collection", stats)
                with self.cursor(commit=True) as cur:
                    cur.execute(f"ALTER TABLE {stats} ADD COLUMN IF NOT EXISTS collection text")
                    cur.execute(f"DELETE FROM {stats}")
                    cur.execute(f"INSERT INTO {stats} (term, collection, df, v_from) SELECT term, collection, "
                                f"count(*), 0 FROM {self.schema}.postings WHERE v_to IS NULL GROUP BY term, collection")
            with self.cursor(commit=True) as cur:
                cur.execute(f"CREATE INDEX IF NOT EXISTS passages_collection ON {table} (collection)")
                cur.execute(f"SELECT to_regclass('{self.schema}.{POSTINGS_INDEX}') IS NULL")
                covering_missing = cur.fetchone()[0]
            if covering_missing:  # the postings' index before it carried the columns (a minute per 20M postings)
                log.info("event=index_upgrade table=%s.postings index=%s", self.schema, POSTINGS_INDEX)
                with self.cursor(commit=True) as cur:
                    cur.execute("SET LOCAL maintenance_work_mem = '1GB'")
                    cur.execute(postings_index_sql(self.schema))
                    cur.execute(f"DROP INDEX IF EXISTS {self.schema}.postings_impact")
        self._upgraded = True

    def vector_store(self, dim: int, setup: bool = False) -> Any:
        """llama-index's ``PGVectorStore`` on the passages table (HNSW, cosine)."""
        if self._store is not None and not setup:
            return self._store
        postgres = require("llama_index.vector_stores.postgres")

        store = postgres.PGVectorStore(
            table_name=TABLE,
            schema_name=self.schema,
            embed_dim=dim,
            use_jsonb=True,
            perform_setup=setup,
            hnsw_kwargs={"hnsw_m": HNSW_M, "hnsw_ef_construction": HNSW_EF_CONSTRUCTION,
                         "hnsw_ef_search": HNSW_EF_SEARCH, "hnsw_dist_method": "vector_cosine_ops"},
            engine=self.engine,
            async_engine=shared_engine(self.url, "asyncpg"),
            customize_query_fn=live_only,
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
            table = f"{self.schema}.data_{TABLE}"
            cur.execute(f"""
                ALTER TABLE {table}
                  ADD COLUMN IF NOT EXISTS source text, ADD COLUMN IF NOT EXISTS page int,
                  ADD COLUMN IF NOT EXISTS start_char int, ADD COLUMN IF NOT EXISTS end_char int,
                  ADD COLUMN IF NOT EXISTS section text, ADD COLUMN IF NOT EXISTS file_hash text,
                  ADD COLUMN IF NOT EXISTS ocr boolean NOT NULL DEFAULT false,
                  ADD COLUMN IF NOT EXISTS dl int, ADD COLUMN IF NOT EXISTS v_from int NOT NULL DEFAULT 0,
                  ADD COLUMN IF NOT EXISTS v_to int, ADD COLUMN IF NOT EXISTS {COLLECTION};
                CREATE INDEX IF NOT EXISTS passages_node ON {table} (node_id);
                CREATE INDEX IF NOT EXISTS passages_collection ON {table} (collection);
                CREATE INDEX IF NOT EXISTS passages_source ON {table} (source);
                CREATE TABLE IF NOT EXISTS {self.schema}.postings (
                  node_id text NOT NULL, source text NOT NULL, term text NOT NULL, tf int NOT NULL, dl int NOT NULL,
                  v_from int NOT NULL, v_to int, {COLLECTION});
                {postings_index_sql(self.schema)};
                CREATE INDEX IF NOT EXISTS postings_source ON {self.schema}.postings (source);
                CREATE INDEX IF NOT EXISTS postings_node ON {self.schema}.postings (node_id);
                CREATE TABLE IF NOT EXISTS {self.schema}.term_stats (
                  term text NOT NULL, df int NOT NULL, v_from int NOT NULL, v_to int, collection text);
                CREATE INDEX IF NOT EXISTS term_stats_term ON {self.schema}.term_stats (term);
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


def live_only(stmt: Any, table: Any, **kwargs: Any) -> Any:
    """``PGVectorStore`` query hook: only the rows live in the reader's version and, with a scope
    (``hdf_collections``, ``hdf_sources``), inside it: the same statement as pgvector's ordering, so the
    HNSW scan itself skips the other rows (and, iterative, goes on until it has ``k``)."""
    from sqlalchemy import ARRAY, Text, bindparam, text

    version = kwargs["hdf_version"]
    stmt = stmt.where(text("v_from <= :hdf_v AND (v_to IS NULL OR v_to > :hdf_v)").bindparams(hdf_v=version))
    collections = kwargs.get("hdf_collections")
    if collections is not None:
        stmt = stmt.where(text("collection = ANY(:hdf_cols)").bindparams(
            bindparam("hdf_cols", value=list(collections), type_=ARRAY(Text))))
    sources = kwargs.get("hdf_sources")
    if sources is not None:
        stmt = stmt.where(text("source = ANY(:hdf_srcs)").bindparams(
            bindparam("hdf_srcs", value=list(sources), type_=ARRAY(Text))))
    return stmt


