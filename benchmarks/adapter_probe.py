"""Probe (issue 21, corpus adaptation): a query-side linear adapter
(q -> normalize(W q), W started at the identity) trained on pseudo-questions
mined from the corpus itself: a section heading of three words or more -> the
passage under it, other pairs of the batch as negatives; regularised towards
the identity (``lambda``). Chosen on the development set, reported on the test
set (benchmarks/README.md). Passages are not re-embedded; nothing is shipped.

    python benchmarks/adapter_probe.py     # needs torch (installed with the test extras)
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dev_sweep import dev_questions  # noqa: E402
from fusion_sweep import measure  # noqa: E402
from heading_probe import SQUAD, headings  # noqa: E402

PAIRS = 4000
TEMPERATURE = 0.05


def mined_pairs(store: Any) -> list[tuple[str, str]]:
    pairs = []
    for source in store.sources():
        text = store.source_text(source)
        chunks = [store.chunk(c) for c in store.chunk_ids_of(source)]
        for offset, heading in headings(text):
            after = [c for c in chunks if c.start >= offset]
            if len(heading.split()) >= 3 and after:
                pairs.append((heading, after[0].text))
    random.Random(0).shuffle(pairs)
    return pairs[:PAIRS]


def train(queries: np.ndarray, passages: np.ndarray, lam: float, seed: int, epochs: int = 3,
          batch: int = 64) -> np.ndarray:
    import torch

    torch.manual_seed(seed)
    q_all, p_all = torch.tensor(queries), torch.tensor(passages)
    identity = torch.eye(queries.shape[1])
    weights = torch.nn.Parameter(identity.clone())
    optimiser = torch.optim.Adam([weights], lr=1e-3)
    for _ in range(epochs):
        order = torch.randperm(len(q_all))
        for start in range(0, len(q_all), batch):
            idx = order[start : start + batch]
            q = torch.nn.functional.normalize(q_all[idx] @ weights.T, dim=1)
            logits = q @ p_all[idx].T / TEMPERATURE
            loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(idx)))
            loss = loss + lam * ((weights - identity) ** 2).sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return weights.detach().numpy()


class Adapted:
    """Question vectors (computed once) passed through the adapter."""

    def __init__(self, embedder: Any, vectors: dict[str, np.ndarray], weights: np.ndarray) -> None:
        self.model_id, self.dim = embedder.model_id, embedder.dim
        self.vectors, self.weights = vectors, weights

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        v = np.vstack([self.vectors[t] for t in texts]) @ self.weights.T
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def main() -> None:
    from hdf_assistant.assistant import build_embedder, open_backend
    from hdf_assistant.config import load_settings
    from hdf_assistant.evaluate.questions import load_question_set
    from hdf_assistant.evaluate.run import squad_workspace
    from hdf_assistant.retrieve import HybridRetriever

    test = load_question_set(SQUAD).questions
    dev = dev_questions()
    settings = squad_workspace(load_settings(), SQUAD, load_question_set(SQUAD))
    store = open_backend(settings).open()
    embedder = build_embedder(settings)
    pairs = mined_pairs(store)
    queries = embedder.embed_queries([q for q, _ in pairs])
    passages = embedder.embed_passages([p for _, p in pairs])
    asked = [q.question for q in dev + test]
    vectors = dict(zip(asked, embedder.embed_queries(asked)))
    print(f"{len(pairs)} mined pairs")
    print("| lambda | seed | dev hit@1 | dev MRR@10 | test hit@1 | test MRR@10 |")
    print("|---|---|---|---|---|---|")
    runs: list[tuple[float | None, int]] = [(None, 0)]
    runs += [(lam, seed) for lam in (30.0, 10.0, 3.0, 1.0, 0.1) for seed in (0, 1, 2)]
    for lam, seed in runs:
        weights = np.eye(queries.shape[1], dtype=np.float32) if lam is None else train(queries, passages, lam, seed)
        retriever = HybridRetriever(store, Adapted(embedder, vectors, weights))
        d, t = measure(retriever, dev), measure(retriever, test)
        print(f"| {'identity' if lam is None else lam} | {seed} | {d['hit@1']:.3f} | {d['mrr@10']:.3f} "
              f"| {t['hit@1']:.3f} | {t['mrr@10']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
