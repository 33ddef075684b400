"""Reading one version of an index in PostgreSQL (``SearchIndex``): dense
search through llama-index's ``PGVectorStore``, BM25 in SQL, passages and
texts; every query filtered to the rows live in that version."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from hdf_assistant.analysis import analyze_query
from hdf_assistant.index.documents import DocumentScores, DocumentVectors
from hdf_assistant.index.keyword import K1, B
from hdf_assistant.index.manifest import Manifest
from hdf_assistant.index.nodes import node_to_chunk
from hdf_assistant.index.passages import text_of
from hdf_assistant.index.postgres_db import (
    CHUNK_COLUMNS,
    IMPACT,
    LIVE,
    POSTINGS_PER_TERM,
    TABLE,
    Database,
    chunk_of,
    in_scope,
    parse_vector,
    vector_text,
)
from hdf_assistant.index.scope import Scope, scoped_document_scores
from hdf_assistant.schema import Chunk, ScoredChunk

#: passages, and files' passage lists, remembered per index version (the oldest half dropped past it)
CHUNK_CACHE = 200_000
SOURCE_CACHE = 10_000


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
        #: questions answered side by side share the caches: a read never checks then reads (another
        #: thread may trim in between), and every change and trim is made under this lock
        self._cache_lock = threading.Lock()
        self._counts: dict[Scope, int] = {}

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        with self._db.cursor() as cur:
            yield cur

    def _params(self, scope: Scope | None = None, **values: Any) -> dict[str, Any]:
        if scope is not None:
            values.update(cols=sorted(scope.collections), srcs=scope.sql_sources)
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
        found = self._chunks.get(chunk_id)
        if found is None:
            found = self._fetch([chunk_id]).get(chunk_id)
        if found is None:
            raise KeyError(chunk_id)
        return found

    def _remember(self, chunks: Sequence[Chunk]) -> None:
        with self._cache_lock:
            self._chunks.update((c.id, c) for c in chunks)
            if len(self._chunks) > CHUNK_CACHE:  # bounded: most recent questions' passages
                for cid in list(self._chunks)[: CHUNK_CACHE // 2]:
                    del self._chunks[cid]

    def _fetch(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        """The passages of ``chunk_ids`` not in the cache, read (and remembered); this call's own copy."""
        missing = [cid for cid in chunk_ids if cid not in self._chunks]
        if not missing:
            return {}
        with self._cursor() as cur:
            cur.execute(f"SELECT {CHUNK_COLUMNS} FROM {self._db.schema}.data_{TABLE} "
                        f"WHERE node_id = ANY(%(ids)s) AND {LIVE}", self._params(ids=list(missing)))
            fetched = {row[0]: chunk_of(row) for row in cur.fetchall()}
        self._remember(list(fetched.values()))
        return fetched

    def chunk_ids_of(self, source: str) -> list[str]:
        known = self._by_source.get(source)
        if known is not None:
            return list(known)
        with self._cursor() as cur:
            cur.execute(f"SELECT {CHUNK_COLUMNS} FROM {self._db.schema}.data_{TABLE} "
                        f"WHERE source = %(s)s AND {LIVE} ORDER BY coalesce(page, 0), start_char",
                        self._params(s=source))
            chunks = [chunk_of(row) for row in cur.fetchall()]
        self._remember(chunks)
        ids = [c.id for c in chunks]
        with self._cache_lock:
            if len(self._by_source) > SOURCE_CACHE:
                self._by_source.clear()
            self._by_source[source] = ids
        return list(ids)

    def sources(self) -> list[str]:
        with self._cursor() as cur:
            cur.execute(f"SELECT DISTINCT source FROM {self._db.schema}.data_{TABLE} WHERE {LIVE} ORDER BY source",
                        self._params())
            return [row[0] for row in cur.fetchall()]

    def page_text(self, source: str, page: int | None) -> str:
        return text_of(c for c in map(self.chunk, self.chunk_ids_of(source)) if c.page == page)

    def source_text(self, source: str) -> str:
        pages = list(dict.fromkeys(self.chunk(cid).page for cid in self.chunk_ids_of(source)))
        return "\n".join(self.page_text(source, page) for page in pages)

    def count(self, scope: Scope | None = None) -> int:
        if scope is None:
            return self._passages
        found = self._counts.get(scope)
        if found is None:
            with self._cursor() as cur:
                cur.execute(f"SELECT count(*) FROM {self._db.schema}.data_{TABLE} "
                            f"WHERE {LIVE} AND {in_scope(scope)}",
                            self._params(scope))
                found = int(cur.fetchone()[0])
            with self._cache_lock:
                if len(self._counts) > SOURCE_CACHE:
                    self._counts.clear()
                self._counts[scope] = found
        return found

    def search(self, vector: np.ndarray, k: int, scope: Scope | None = None) -> list[ScoredChunk]:
        """Nearest passages through ``PGVectorStore`` (HNSW), live in this version (and inside ``scope``,
        in the same statement)."""
        if k <= 0 or self._passages == 0:
            return []
        from llama_index.core.vector_stores.types import VectorStoreQuery

        store = self._db.vector_store(self._manifest.dim)
        query = VectorStoreQuery(query_embedding=np.asarray(vector, dtype=np.float32).tolist(), similarity_top_k=k)
        where = {} if scope is None else {"hdf_collections": sorted(scope.collections), "hdf_sources": scope.sql_sources}
        result = store.query(query, hdf_version=self._version, **where)
        hits = []
        for node, similarity in zip(result.nodes or [], result.similarities or []):
            chunk = node_to_chunk(node)
            self._chunks.setdefault(chunk.id, chunk)
            hits.append(ScoredChunk(chunk, float(similarity)))
        hits.sort(key=lambda h: -h.score)  # an iterative scan may return them slightly out of order
        return hits

    def search_exact(self, vector: np.ndarray, k: int, scope: Scope | None = None) -> list[ScoredChunk]:
        """The exact ``k`` nearest passages (a scan, no index): the reference for recall."""
        with self._cursor() as cur:
            cur.execute("SET LOCAL enable_indexscan = off")
            cur.execute(f"SELECT {CHUNK_COLUMNS}, 1 - (embedding <=> %(q)s::vector) AS score "
                        f"FROM {self._db.schema}.data_{TABLE} WHERE {LIVE} "
                        f"{'AND ' + in_scope(scope) if scope is not None else ''} "
                        "ORDER BY embedding <=> %(q)s::vector LIMIT %(k)s",
                        self._params(scope, q=vector_text(vector), k=k))
            return [ScoredChunk(chunk_of(row[:9]), float(row[9])) for row in cur.fetchall()]

    def dense_scores(self, vector: np.ndarray, chunk_ids: Sequence[str]) -> np.ndarray:
        if not chunk_ids:
            return np.zeros(0, dtype=np.float32)
        with self._cursor() as cur:
            cur.execute(f"SELECT node_id, 1 - (embedding <=> %(q)s::vector) FROM {self._db.schema}.data_{TABLE} "
                        f"WHERE node_id = ANY(%(ids)s) AND {LIVE}",
                        self._params(q=vector_text(vector), ids=list(chunk_ids)))
            scores = dict(cur.fetchall())
        return np.array([scores.get(cid, 0.0) for cid in chunk_ids], dtype=np.float32)

    def _document_vectors(self) -> DocumentVectors:
        if self._documents is None:
            with self._cursor() as cur:
                cur.execute(f"SELECT source, embedding::text FROM {self._db.schema}.documents WHERE {LIVE}",
                            self._params())
                self._documents = DocumentVectors({s: parse_vector(v) for s, v in cur.fetchall()})
        return self._documents

    def document_scores(self, vector: np.ndarray, scope: Scope | None = None) -> DocumentScores | None:
        documents = self._document_vectors()
        return scoped_document_scores(documents.scores(vector), scope) if len(documents) else None

    def _bm25(self, question: str, k: int | None, chunk_ids: Sequence[str] | None,
              scope: Scope | None = None) -> list[tuple[str, float]]:
        """BM25 in SQL, the local backend's formula: idf ln(1 + (N - df + 0.5)/(df + 0.5)) times
        tf / (tf + k1 (1 - b + b dl / avgdl)), summed over the question's terms (repeats count).

        With ``chunk_ids``: the exact scores of those passages. Without: the ``k``
        best passages among, for each term, its :data:`POSTINGS_PER_TERM` postings
        of highest weight (all of them for a term in fewer passages: exact then);
        their exact scores are computed again by the caller.

        With ``scope``: only its passages, and the number of passages and each term's document
        frequency counted among them (the average length stays the whole index's)."""
        counts = Counter(analyze_query(question))
        passages = self.count(scope)
        if not counts or passages == 0 or (chunk_ids is not None and not chunk_ids):
            return []
        schema = self._db.schema
        weight = ("p.tf / (p.tf + %(k1)s::float8 * ((1 - %(b)s::float8) + %(b)s::float8 * p.dl "
                  "/ %(avgdl)s::float8))")
        live = "p.v_from <= %(v)s AND (p.v_to IS NULL OR p.v_to > %(v)s)"
        if scope is not None:
            live += " AND " + in_scope(scope, "p.")
        if chunk_ids is not None:  # passage by passage: their few postings, through the postings_node index
            source = f"""unnest(%(ids)s::text[]) AS i(node_id) CROSS JOIN LATERAL (
                    SELECT p.node_id, p.term, p.tf, p.dl FROM {schema}.postings p
                    WHERE p.node_id = i.node_id AND {live} OFFSET 0) p JOIN w USING (term)"""  # OFFSET 0: not flattened
        else:  # the heaviest postings of each term first: the order of the postings index (POSTINGS_INDEX)
            source = f"""w CROSS JOIN LATERAL (
                    SELECT p.node_id, p.tf, p.dl FROM {schema}.postings p WHERE p.term = w.term AND {live}
                    ORDER BY {IMPACT} DESC LIMIT {POSTINGS_PER_TERM}) p"""
        sql = f"""
            WITH q AS (SELECT * FROM unnest(%(terms)s::text[], %(counts)s::int[]) AS q(term, n)),
            w AS (SELECT q.term, q.n * ln(1 + (%(N)s::float8 - s.df + 0.5) / (s.df + 0.5)) AS idf
                  FROM q JOIN {self._stats_table(scope)} s USING (term))
            SELECT p.node_id, sum(w.idf * {weight}) AS score FROM {source}
            GROUP BY p.node_id ORDER BY score DESC, p.node_id {"LIMIT %(k)s" if k is not None else ""}"""
        params = self._params(scope, terms=list(counts), counts=list(counts.values()), N=float(passages), k1=K1, b=B,
                              avgdl=self._total_length / self._passages, k=k, ids=list(chunk_ids or []))
        with self._cursor() as cur:
            cur.execute(sql, params)
            return [(cid, float(score)) for cid, score in cur.fetchall() if score > 0]

    def _stats_table(self, scope: Scope | None) -> str:
        """The (term, df) rows BM25 reads: the live term statistics, or those of the scope's passages."""
        schema = self._db.schema
        if scope is None or scope.sources is None:  # kept per collection at each commit
            where = "" if scope is None else "AND collection = ANY(%(cols)s)"
            return (f"(SELECT term, sum(df)::int AS df FROM {schema}.term_stats WHERE term = ANY(%(terms)s) "
                    f"AND v_from <= %(v)s AND (v_to IS NULL OR v_to > %(v)s) {where} GROUP BY term)")
        return (f"(SELECT term, count(*) AS df FROM {schema}.postings "  # some files only: counted
                f"WHERE term = ANY(%(terms)s) AND {LIVE} AND {in_scope(scope)} GROUP BY term)")

    def keyword_search(self, question: str, k: int, scope: Scope | None = None) -> list[ScoredChunk]:
        candidates = [cid for cid, _ in self._bm25(question, k, None, scope)]
        exact = dict(self._bm25(question, None, candidates, scope))
        top = sorted(exact.items(), key=lambda item: (-item[1], item[0]))[:k]
        fetched = self._fetch([cid for cid, _ in top])
        found = [(fetched.get(cid) or self._chunks.get(cid), score) for cid, score in top]
        return [ScoredChunk(chunk, score) for chunk, score in found if chunk is not None]

    def keyword_scores(self, question: str, chunk_ids: Sequence[str], scope: Scope | None = None) -> np.ndarray:
        scores = dict(self._bm25(question, None, chunk_ids, scope))
        return np.array([scores.get(cid, 0.0) for cid in chunk_ids], dtype=np.float32)

    def document_frequency(self, terms: Sequence[str], scope: Scope | None = None) -> dict[str, int]:
        with self._cursor() as cur:
            cur.execute(f"SELECT term, df FROM {self._stats_table(scope)} s WHERE term = ANY(%(terms)s)",
                        self._params(scope, terms=list(set(terms))))
            found = dict(cur.fetchall())
        return {t: int(found.get(t, 0)) for t in terms}


