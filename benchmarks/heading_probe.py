"""Probe: section headings of plain-text files as evidence for the dense
score, measured on the development set and the test set (benchmarks/README.md,
"Development set and test set"). Not used by the package: it wraps the
retriever's document-score step to add ``w`` times the cosine of the
passage's heading (the passage's own cosine when it has none).

    python benchmarks/heading_probe.py heading   # the heading alone
    python benchmarks/heading_probe.py lead      # the file's first sentence, then the heading
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dev_sweep import dev_questions  # noqa: E402
from fusion_sweep import CachedQueries, measure  # noqa: E402

SQUAD = HERE.parents[1] / "shared" / "benchmarks" / "piaf-spf" / "spf_qr_test.json"


def headings(text: str) -> list[tuple[int, str]]:
    """(offset, line) of short capitalised lines without final punctuation, followed by text."""
    out = []
    position = 0
    lines = text.split("\n")
    for i, line in enumerate(lines):
        s = line.strip()
        following = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if (s and len(s) <= 80 and len(s.split()) <= 12 and not s.endswith((".", ",", ";", ":", "€"))
                and following and s[0].isupper()):
            out.append((position, s))
        position += len(line) + 1
    return out


def main() -> None:
    import hdf_assistant.retrieve as retrieve
    from hdf_assistant.assistant import build_embedder, open_backend
    from hdf_assistant.config import load_settings
    from hdf_assistant.evaluate.questions import load_question_set
    from hdf_assistant.evaluate.run import squad_workspace
    from hdf_assistant.ingest.chunking import document_lead

    mode = sys.argv[1] if len(sys.argv) > 1 else "heading"
    test = load_question_set(SQUAD).questions
    dev = dev_questions()
    settings = squad_workspace(load_settings(), SQUAD, load_question_set(SQUAD))
    store = open_backend(settings).open()
    embedder = build_embedder(settings)
    text_of: dict[str, str] = {}
    for source in store.sources():
        text = store.source_text(source)
        found = headings(text)
        lead = document_lead(text).split(". ")[0]
        for cid in store.chunk_ids_of(source):
            start = store.chunk(cid).start
            heading = next((h for offset, h in reversed(found) if offset <= start), None)
            if heading:
                text_of[cid] = heading if mode == "heading" else f"{lead} — {heading}"
    keys = sorted(set(text_of.values()))
    print(f"passages with a heading: {len(text_of)} of {store.size}; distinct texts embedded: {len(keys)}")
    by_text = dict(zip(keys, embedder.embed_passages(keys)))
    queries = CachedQueries(embedder, [q.question for q in dev + test])
    state: dict[str, object] = {"vector": None, "weight": 0.0}

    class Remembering:
        model_id, dim = queries.model_id, queries.dim

        def embed_queries(self, texts: list[str]) -> np.ndarray:
            vectors = queries.embed_queries(texts)
            state["vector"] = vectors[0]
            return vectors

    plain = retrieve.with_document_scores

    def with_headings(index, ids, own, params, documents):  # type: ignore[no-untyped-def]
        base = plain(index, ids, own, params, documents)
        weight = float(state["weight"])  # type: ignore[arg-type]
        if weight == 0:
            return base
        q = state["vector"]
        extra = np.array([float(by_text[text_of[c]] @ q) if c in text_of else float(o) for c, o in zip(ids, own)],
                         dtype=np.float32)
        return base + weight * extra

    retrieve.with_document_scores = with_headings
    print("| heading weight | document weight | BM25 weight | dev hit@1 | dev MRR@10 | test hit@1 | test MRR@10 |")
    print("|---|---|---|---|---|---|---|")
    for hw, dw, kw in itertools.product([0.0, 0.1, 0.2, 0.3], [0.25, 0.6], [0.05, 0.2]):
        state["weight"] = hw
        retriever = retrieve.HybridRetriever(store, Remembering(),
                                             retrieve.FusionParams(keyword_weight_fr=kw, keyword_weight_en=kw),
                                             retrieve.DenseParams(document_weight=dw))
        d, t = measure(retriever, dev), measure(retriever, test)
        print(f"| {hw} | {dw} | {kw} | {d['hit@1']:.3f} | {d['mrr@10']:.3f} | {t['hit@1']:.3f} "
              f"| {t['mrr@10']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
