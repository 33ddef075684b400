"""The three retrievers side by side on a SQuAD benchmark, then a sweep of
the dense document weight and the hybrid's keyword weight.

    python benchmarks/fusion_sweep.py ../shared/benchmarks/piaf-spf/spf_qr_test.json

Needs the benchmark's cached index, built by one run of
``hdf-assistant eval FILE`` with the same settings. Questions are embedded
once; every parameter set then runs the real HybridRetriever and is judged
with the same metric code as ``eval`` (rank of the gold article's first chunk).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from hdf_assistant.assistant import build_embedder, open_backend
from hdf_assistant.config import load_settings
from hdf_assistant.evaluate.metrics import compute_metrics, source_rank
from hdf_assistant.evaluate.questions import load_question_set
from hdf_assistant.evaluate.run import squad_workspace
from hdf_assistant.retrieve import DenseParams, DenseRetriever, FusionParams, HybridRetriever, KeywordRetriever


class CachedQueries:
    def __init__(self, embedder, questions):
        self.model_id, self.dim = embedder.model_id, embedder.dim
        vectors = embedder.embed_queries(questions)
        self._cache = dict(zip(questions, vectors))

    def embed_queries(self, texts):
        return np.vstack([self._cache[t] for t in texts])


def measure(retriever, questions) -> dict:
    rows = []
    for q in questions:
        hits = retriever.retrieve(q.question, 10)
        rows.append({"expected_source": q.expected_source,
                     "source_rank": source_rank([h.chunk.source for h in hits], q.expected_source)})
    return compute_metrics(rows)["retrieval"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("squad", type=Path)
    args = parser.parse_args()
    qs = load_question_set(args.squad)
    settings = squad_workspace(load_settings(), args.squad, qs)
    store = open_backend(settings).open()
    if not store.has_document_vectors:
        raise SystemExit("the cached index has no document vectors: run hdf-assistant eval on this file first")
    embedder = CachedQueries(build_embedder(settings), [q.question for q in qs.questions])
    default = DenseParams(document_weight=settings.document_weight)
    rows = [(f"dense (document_weight={default.document_weight})",
             measure(DenseRetriever(store, embedder, default), qs.questions)),
            ("bm25", measure(KeywordRetriever(store), qs.questions)),
            (f"hybrid (default: keyword_weight={FusionParams().keyword_weight_fr}, document_weight="
             f"{default.document_weight})", measure(HybridRetriever(store, embedder, dense=default), qs.questions))]
    for doc_w in [0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0, 1.5]:
        dense = DenseParams(document_weight=doc_w)
        rows.append((f"dense document_weight={doc_w}", measure(DenseRetriever(store, embedder, dense), qs.questions)))
        for w, cand in itertools.product([0.05, 0.1, 0.2], [20, 50]):
            params = FusionParams(keyword_weight_fr=w, keyword_weight_en=w, candidates=cand)
            hybrid = HybridRetriever(store, embedder, params, dense)
            rows.append((f"hybrid document_weight={doc_w} keyword_weight={w} cand={cand}", measure(hybrid, qs.questions)))
    print("| retriever | hit@1 | hit@3 | hit@5 | MRR@10 |")
    print("|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['hit@1']:.3f} | {r['hit@3']:.3f} | {r['hit@5']:.3f} | {r['mrr@10']:.3f} |")


if __name__ == "__main__":
    main()
