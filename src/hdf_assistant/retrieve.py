"""Question -> ranked chunks: dense, keyword (BM25) or hybrid.

The dense score of a passage is its own cosine with the question plus
``document_weight`` times the cosine of its file's document vector (the
file's opening sentences, see document_vectors.py); every passage of the
files nearest by that vector is scored too, not only the nearest passages.
The hybrid retriever takes the best candidates of both sides, scores every
candidate on both (exact cosine, BM25),
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
from hdf_assistant.config import DEFAULT_DOCUMENT_WEIGHT, DEFAULT_KEYWORD_WEIGHT
from hdf_assistant.errors import ConfigError
from hdf_assistant.index.backend import SearchIndex
from hdf_assistant.index.documents import DocumentScores
from hdf_assistant.models.embedders import Embedder
from hdf_assistant.schema import RETRIEVERS, ScoredChunk


class Retriever(Protocol):
    name: str
    #: the index it searches (seen through a request's scope, if any)
    index: SearchIndex

    def retrieve(self, query: str, top_k: int) -> list[ScoredChunk]: ...


@dataclass(frozen=True)
class DenseParams:
    """How passage and document similarities combine (benchmarks/README.md)."""

    #: weight of the file's document score added to a passage's own cosine
    document_weight: float = DEFAULT_DOCUMENT_WEIGHT
    #: files, nearest by their document vector, whose passages are all scored
    documents: int = 5


def document_scores(index: SearchIndex, vector: np.ndarray, params: DenseParams) -> DocumentScores | None:
    """Every file's cosine with the question, or None when the document
    score is not used (weight 0, or an index without document vectors)."""
    if params.document_weight <= 0:
        return None
    return index.document_scores(vector)


def with_document_scores(
    index: SearchIndex, chunk_ids: list[str], own: np.ndarray, params: DenseParams, documents: DocumentScores | None
) -> np.ndarray:
    """The chunks' own cosines plus the weighted cosine of their file."""
    if documents is None:
        return own
    files = np.array([documents[index.chunk(cid).source] for cid in chunk_ids], dtype=np.float32)
    return own + params.document_weight * files


def dense_ranking(
    index: SearchIndex, vector: np.ndarray, k: int, params: DenseParams, documents: DocumentScores | None
) -> tuple[list[str], np.ndarray]:
    """Chunk ids and dense scores, best first: the ``k`` passages nearest to
    ``vector``, and every passage of the files nearest by document vector,
    scored by their own cosine plus the weighted cosine of their file
    (``documents``, from :func:`document_scores`)."""
    hits = index.search(vector, k)
    ids = [h.chunk.id for h in hits]
    own = np.array([h.score for h in hits], dtype=np.float32)
    if documents is None:
        return ids, own
    seen = set(ids)
    extra = [cid for source in documents.nearest(params.documents)
             for cid in index.chunk_ids_of(source) if cid not in seen]
    ids += extra
    own = np.concatenate([own, index.dense_scores(vector, extra)])
    return _by_score(ids, with_document_scores(index, ids, own, params, documents))


def _by_score(ids: list[str], scores: np.ndarray) -> tuple[list[str], np.ndarray]:
    order = np.argsort(-scores, kind="stable")
    return [ids[i] for i in order], scores[order]


class DenseRetriever:
    """Nearest chunks by cosine similarity of multilingual embeddings, with
    their file's document score."""

    name = "dense"

    def __init__(self, index: SearchIndex, embedder: Embedder, params: DenseParams | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.params = params or DenseParams()

    def retrieve(self, query: str, top_k: int) -> list[ScoredChunk]:
        vector = self.embedder.embed_queries([query])[0]
        documents = document_scores(self.index, vector, self.params)
        ids, scores = dense_ranking(self.index, vector, top_k, self.params, documents)
        return [ScoredChunk(self.index.chunk(cid), float(s)) for cid, s in zip(ids[:top_k], scores[:top_k])]


class KeywordRetriever:
    """BM25 over the French analyser's terms."""

    name = "bm25"

    def __init__(self, index: SearchIndex) -> None:
        self.index = index

    def retrieve(self, query: str, top_k: int) -> list[ScoredChunk]:
        return self.index.keyword_search(query, top_k)


@dataclass(frozen=True)
class FusionParams:
    """Weights of the hybrid blend, chosen by measurement (benchmarks/README.md)."""

    #: weight of the normalised BM25 score for French / English questions
    keyword_weight_fr: float = DEFAULT_KEYWORD_WEIGHT
    keyword_weight_en: float = DEFAULT_KEYWORD_WEIGHT
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

    def __init__(
        self,
        index: SearchIndex,
        embedder: Embedder,
        params: FusionParams | None = None,
        dense: DenseParams | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.params = params or FusionParams()
        self.dense = dense or DenseParams()

    def retrieve(self, query: str, top_k: int) -> list[ScoredChunk]:
        p = self.params
        index = self.index
        vector = self.embedder.embed_queries([query])[0]
        documents = document_scores(index, vector, self.dense)
        ids, dense = dense_ranking(index, vector, max(p.candidates, top_k), self.dense, documents)
        seen = set(ids)
        keyword_only = []
        for hit in index.keyword_search(query, max(p.candidates, top_k)):
            if hit.chunk.id not in seen:
                keyword_only.append(hit.chunk.id)
                seen.add(hit.chunk.id)
        if keyword_only:
            own = index.dense_scores(vector, keyword_only)
            extra = with_document_scores(index, keyword_only, own, self.dense, documents)
            ids, dense = ids + keyword_only, np.concatenate([dense, extra])
        if not ids:
            return []
        keyword = index.keyword_scores(query, ids)
        weight = p.keyword_weight_en if detect_language(query) == "en" else p.keyword_weight_fr
        fused = blend(dense, keyword, weight)
        chunks = [index.chunk(cid) for cid in ids]
        order = rank_by_document([c.source for c in chunks], fused, p.second_passage_weight)
        return [ScoredChunk(chunks[i], float(fused[i])) for i in order[:top_k]]


def build_retriever(name: str, index: SearchIndex, embedder: Embedder,
                    document_weight: float = DEFAULT_DOCUMENT_WEIGHT,
                    keyword_weight: float = DEFAULT_KEYWORD_WEIGHT) -> Retriever:
    """The retriever called ``name`` (one of RETRIEVERS)."""
    dense = DenseParams(document_weight=document_weight)
    if name == "dense":
        return DenseRetriever(index, embedder, dense)
    if name == "bm25":
        return KeywordRetriever(index)
    if name == "hybrid":
        return HybridRetriever(index, embedder, FusionParams(keyword_weight, keyword_weight), dense)
    raise ConfigError(f"unknown retriever '{name}' (choose one of: {', '.join(RETRIEVERS)})")
