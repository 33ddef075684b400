"""Question -> ranked chunks: dense, keyword (BM25) or hybrid.

The hybrid retriever takes the best candidates of both sides, scores every
candidate on both (exact cosine from FAISS, BM25 from the keyword index),
blends the two normalised scores with a weight that depends on the
question's language, then puts the best passage of each document first
(documents ranked by their best passage), the other passages after them.
The weights come from measurements on PIAF (benchmarks/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hdf_assistant.analysis import detect_language
from hdf_assistant.embeddings import Embedder
from hdf_assistant.errors import ConfigError
from hdf_assistant.schema import ScoredChunk
from hdf_assistant.store import VectorStore

RETRIEVERS = ("dense", "bm25", "hybrid")


class Retriever(Protocol):
    name: str
    store: VectorStore

    def retrieve(self, query: str, top_k: int) -> list[ScoredChunk]: ...


class DenseRetriever:
    """Nearest chunks by cosine similarity of multilingual embeddings."""

    name = "dense"

    def __init__(self, store: VectorStore, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def retrieve(self, query: str, top_k: int) -> list[ScoredChunk]:
        vector = self.embedder.embed_queries([query])[0]
        return self.store.search(vector, top_k)


def _top_positions(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest positive scores, best first."""
    if scores.size == 0:
        return np.zeros(0, dtype=np.int64)
    k = min(k, scores.size)
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return top[scores[top] > 0]


class KeywordRetriever:
    """BM25 over the French analyser's terms."""

    name = "bm25"

    def __init__(self, store: VectorStore) -> None:
        if store.keyword is None:
            raise ConfigError("this index has no keyword index: rebuild it with hdf-assistant index --full")
        self.store = store

    def retrieve(self, query: str, top_k: int) -> list[ScoredChunk]:
        assert self.store.keyword is not None
        scores = self.store.keyword.scores(query)
        return [ScoredChunk(self.store.chunk_at(int(p)), float(scores[p])) for p in _top_positions(scores, top_k)]


@dataclass(frozen=True)
class FusionParams:
    """Weights of the hybrid blend, chosen by measurement (benchmarks/README.md)."""

    #: weight of the normalised BM25 score for French / English questions
    keyword_weight_fr: float = 0.05
    keyword_weight_en: float = 0.05
    #: candidates taken from each side before blending
    candidates: int = 20
    #: weight of a document's second-best passage in its document score
    second_passage_weight: float = 0.0


def _minmax(values: np.ndarray) -> np.ndarray:
    if values.size == 0:
        return values
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-9:
        return np.zeros_like(values)
    return (values - low) / (high - low)


def blend(dense: np.ndarray, keyword: np.ndarray, keyword_weight: float) -> np.ndarray:
    """Weighted sum of min-max normalised scores over the candidates."""
    return (1 - keyword_weight) * _minmax(dense) + keyword_weight * _minmax(keyword)


def rank_by_document(sources: list[str], scores: np.ndarray, second_weight: float) -> list[int]:
    """Candidate order: the best passage of each document, documents ranked by
    their best (plus weighted second-best) passage score; then the other
    passages by score. The first results thus cover as many documents as
    possible, the most relevant first."""
    best: dict[str, list[float]] = {}
    for source, score in zip(sources, scores):
        best.setdefault(source, []).append(float(score))
    doc_score = {}
    for source, values in best.items():
        values.sort(reverse=True)
        doc_score[source] = values[0] + (second_weight * values[1] if len(values) > 1 else 0.0)
    by_score = sorted(range(len(sources)), key=lambda i: -float(scores[i]))
    firsts: dict[str, int] = {}
    for i in by_score:
        firsts.setdefault(sources[i], i)
    heads = sorted(firsts.values(), key=lambda i: -doc_score[sources[i]])
    chosen = set(heads)
    return heads + [i for i in by_score if i not in chosen]


class HybridRetriever:
    """Dense and BM25 candidates, blended scores, ranked by document."""

    name = "hybrid"

    def __init__(self, store: VectorStore, embedder: Embedder, params: FusionParams | None = None) -> None:
        if store.keyword is None:
            raise ConfigError("this index has no keyword index: rebuild it with hdf-assistant index --full")
        self.store = store
        self.embedder = embedder
        self.params = params or FusionParams()

    def retrieve(self, query: str, top_k: int) -> list[ScoredChunk]:
        assert self.store.keyword is not None
        p = self.params
        vector = self.embedder.embed_queries([query])[0]
        dense_hits = self.store.search(vector, max(p.candidates, top_k))
        keyword_scores = self.store.keyword.scores(query)
        ids = [h.chunk.id for h in dense_hits]
        seen = set(ids)
        for position in _top_positions(keyword_scores, max(p.candidates, top_k)):
            cid = self.store.keyword.chunk_ids[int(position)]
            if cid not in seen:
                ids.append(cid)
                seen.add(cid)
        if not ids:
            return []
        dense = self.store.dense_scores(vector, ids)
        positions = [self.store.keyword.position(cid) for cid in ids]
        keyword = np.array([keyword_scores[q] if q is not None else 0.0 for q in positions], dtype=np.float32)
        weight = p.keyword_weight_en if detect_language(query) == "en" else p.keyword_weight_fr
        fused = blend(dense, keyword, weight)
        chunks = [self.store.chunk(cid) for cid in ids]
        order = rank_by_document([c.source for c in chunks], fused, p.second_passage_weight)
        return [ScoredChunk(chunks[i], float(fused[i])) for i in order[:top_k]]


def build_retriever(name: str, store: VectorStore, embedder: Embedder) -> Retriever:
    """The retriever called ``name`` (one of RETRIEVERS)."""
    if name == "dense":
        return DenseRetriever(store, embedder)
    if name == "bm25":
        return KeywordRetriever(store)
    if name == "hybrid":
        return HybridRetriever(store, embedder)
    raise ConfigError(f"unknown retriever '{name}' (choose one of: {', '.join(RETRIEVERS)})")
