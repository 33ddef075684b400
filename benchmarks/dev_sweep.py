"""Choose the retrieval defaults on the development set, report them on the
test set, from one run.

    python benchmarks/dev_sweep.py ../shared/benchmarks/piaf-spf/spf_qr_test.json

Development set (tuning only), over the 530 Service-Public fiches of the PIAF
file, none of them the 105 benchmark questions:
- ``questions/spf_dev_retrieval.jsonl``: 167 questions written for this, one
  per fiche, over fiches drawn at random (seed 21) among the 425 that carry no
  benchmark question: dr01-dr60 a fiche's subject in the benchmark's style,
  after reading its opening ("Faut-il assurer une caravane ?"); dr61-dr105 a
  section deep in a fiche, after reading its headings ("Certificat W garage :
  quelle est sa durée de validité ?"); dr106-dr167 as a person would ask
  without having read the fiche, from its subject alone ("Mon CDD peut-il
  devenir un CDI ?");
- ``questions/spf_calibration.jsonl``: the 57 answerable calibration
  questions with a known fiche (short factual questions).
Test set (reported, never swept on): the 105 PIAF questions.

Every setting runs the real retrievers on the cached benchmark index (built
by ``hdf-assistant eval FILE``): the grid of document and BM25 weights, then
the other query-time defaults one at a time (candidates, nearest files, the
document vector's lead). A default changes only when a setting beats it
significantly on the development set, question by question (two-sided sign
test over the questions whose rank changes, p < 0.05).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fusion_sweep import CachedQueries, measure  # noqa: E402

DEV_FILES = ("spf_dev_retrieval.jsonl", "spf_calibration.jsonl")
#: the other retrieval defaults, each tried alone at the default weights: candidates taken from each side of
#: the hybrid blend, files whose passages are all scored, and the document vector's lead (sentences, characters)
CANDIDATES = (10, 20, 50)
NEAREST_FILES = (3, 5, 10)
LEADS = ((1, 200), (2, 300), (3, 400), (5, 600))
DOCUMENT_WEIGHTS = (0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0, 1.5)
KEYWORD_WEIGHTS = (0.0, 0.05, 0.1, 0.2)


PARTS = ("subject", "section", "unread", "calibration")


def part_of(question_id: str) -> str:
    """Which part of the development set a question belongs to (see the module's docstring)."""
    if question_id.startswith("sa"):
        return "calibration"
    n = int(question_id[2:])
    return "subject" if n <= 60 else "section" if n <= 105 else "unread"


def dev_questions() -> list[Any]:
    from hdf_assistant.evaluate.questions import load_question_set

    return [q for f in DEV_FILES for q in load_question_set(HERE / "questions" / f).questions if q.expected_source]


def reciprocal_ranks(retriever: Any, questions: list[Any]) -> list[float]:
    from hdf_assistant.evaluate.metrics import source_rank

    ranks = [source_rank([h.chunk.source for h in retriever.retrieve(q.question, 10)], q.expected_source)
             for q in questions]
    return [1.0 / r if r else 0.0 for r in ranks]


def paired(best: list[float], current: list[float]) -> str:
    """How many questions rank better / worse, and the two-sided sign test."""
    from scipy.stats import binomtest

    up = sum(b > c for b, c in zip(best, current))
    down = sum(b < c for b, c in zip(best, current))
    p = binomtest(up, up + down).pvalue if up + down else 1.0
    return f"{up} better, {down} worse (sign test p = {p:.3f})"


def lead(text: str, sentences: int, chars: int) -> str:
    """chunking.document_lead with other lengths."""
    from hdf_assistant.ingest.chunking import split_sentences

    spans = split_sentences(text)[:sentences]
    return " ".join(" ".join(text[sp.start : sp.end].split()) for sp in spans)[:chars].strip()


def other_defaults(store: Any, embedder: Any, settings: Any, dev: list[Any], test: list[Any],
                   current_ranks: dict[str, list[float]], ranks: Any) -> list[dict[str, Any]]:
    """Candidates, nearest files and lead length, one at a time, against the default."""
    from hdf_assistant.assistant import build_embedder
    from hdf_assistant.ingest.chunking import LEAD_CHARS, LEAD_SENTENCES
    from hdf_assistant.retrieve import DenseParams, FusionParams, HybridRetriever

    def row(setting: str, retriever: Any) -> dict[str, Any]:
        return {"setting": setting, "dev": measure(retriever, dev), "test": measure(retriever, test),
                "against_default": paired(ranks(retriever, dev), current_ranks["dev"])}

    weights = {"keyword_weight_fr": settings.keyword_weight, "keyword_weight_en": settings.keyword_weight}
    dense = DenseParams(document_weight=settings.document_weight)
    out = [row(f"candidates {c}", HybridRetriever(store, embedder, FusionParams(candidates=c, **weights), dense))
           for c in CANDIDATES]
    out += [row(f"nearest files {n}", HybridRetriever(store, embedder, FusionParams(**weights),
                                                      DenseParams(document_weight=settings.document_weight,
                                                                  documents=n)))
            for n in NEAREST_FILES]
    sources = store.sources()
    passages = build_embedder(settings)
    default_vectors = np.vstack([store.document_vector(src) for src in sources])
    try:
        for sentences, chars in LEADS:
            vectors = passages.embed_passages([lead(store.source_text(src), sentences, chars) for src in sources])
            store.set_document_vectors(sources, vectors)
            default = " (default)" if (sentences, chars) == (LEAD_SENTENCES, LEAD_CHARS) else ""
            out.append(row(f"lead {sentences} sentences / {chars} characters{default}",
                           HybridRetriever(store, embedder, FusionParams(**weights), dense)))
    finally:
        store.set_document_vectors(sources, default_vectors)
    return out


def main() -> None:
    from hdf_assistant.assistant import build_embedder, open_backend
    from hdf_assistant.config import load_settings
    from hdf_assistant.evaluate.questions import load_question_set
    from hdf_assistant.evaluate.run import squad_workspace
    from hdf_assistant.retrieve import DenseParams, FusionParams, HybridRetriever

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("squad", type=Path)
    parser.add_argument("--json", action="store_true", help="print every row as JSON")
    args = parser.parse_args()
    test = load_question_set(args.squad).questions
    dev = dev_questions()
    settings = squad_workspace(load_settings(), args.squad, load_question_set(args.squad))
    # whole and writable (never committed): the lead probe swaps the file vectors in memory only
    store = open_backend(settings).edit()
    if not store.has_document_vectors:
        raise SystemExit("the cached index has no document vectors: run hdf-assistant eval on this file first")
    embedder = CachedQueries(build_embedder(settings), [q.question for q in dev + test])
    rows = []

    def hybrid(doc_w: float, kw: float) -> HybridRetriever:
        return HybridRetriever(store, embedder, FusionParams(keyword_weight_fr=kw, keyword_weight_en=kw),
                               DenseParams(document_weight=doc_w))

    for doc_w, kw in itertools.product(DOCUMENT_WEIGHTS, KEYWORD_WEIGHTS):
        retriever = hybrid(doc_w, kw)
        rows.append({"document_weight": doc_w, "keyword_weight": kw,
                     "dev": measure(retriever, dev), "test": measure(retriever, test),
                     "dev_parts": {part: measure(retriever, [q for q in dev if part_of(q.id) == part])
                                   for part in PARTS}})
    best = max(rows, key=lambda r: (r["dev"]["mrr@10"], r["dev"]["hit@1"]))
    current = next(r for r in rows if r["document_weight"] == settings.document_weight
                   and r["keyword_weight"] == FusionParams().keyword_weight_fr)
    current_ranks = {name: reciprocal_ranks(hybrid(current["document_weight"], current["keyword_weight"]), qs)
                     for name, qs in (("dev", dev), ("test", test))}
    comparison = {name: paired(reciprocal_ranks(hybrid(best["document_weight"], best["keyword_weight"]), qs),
                               current_ranks[name])
                  for name, qs in (("dev", dev), ("test", test))}
    # the document vectors themselves: the default without them (document weight 0)
    without_documents = paired(reciprocal_ranks(hybrid(0.0, current["keyword_weight"]), dev), current_ranks["dev"])
    others = other_defaults(store, embedder, settings, dev, test, current_ranks, reciprocal_ranks)
    if args.json:
        print(json.dumps({"others": others, "rows": rows, "best_on_dev": best, "current_default": current,
                          "best_against_current": comparison, "no_document_vectors_against_current_dev":
                          without_documents}, indent=1))
        return
    print(f"development set: {len(dev)} questions; test set: {len(test)} questions")
    print("| document weight | keyword weight | dev hit@1 | dev MRR@10 | "
          + " | ".join(f"{part} hit@1" for part in PARTS) + " | test hit@1 | test MRR@10 |")
    print("|---|---|---|---|" + "---|" * len(PARTS) + "---|---|")
    for r in rows:
        mark = " (best on dev)" if r is best else " (current default)" if r is current else ""
        parts = " | ".join(f"{r['dev_parts'][part]['hit@1']:.3f}" for part in PARTS)
        print(f"| {r['document_weight']}{mark} | {r['keyword_weight']} | {r['dev']['hit@1']:.3f} "
              f"| {r['dev']['mrr@10']:.3f} | {parts} | {r['test']['hit@1']:.3f} | {r['test']['mrr@10']:.3f} |")
    print(f"best on dev against the current default, question by question: development set {comparison['dev']}; "
          f"test set {comparison['test']}")
    print(f"document weight 0 against the current default, development set: {without_documents}")
    print("\n| setting (others at their default) | dev hit@1 | dev MRR@10 | against the default on dev "
          "| test hit@1 | test MRR@10 |")
    print("|---|---|---|---|---|---|")
    for r in others:
        print(f"| {r['setting']} | {r['dev']['hit@1']:.3f} | {r['dev']['mrr@10']:.3f} | {r['against_default']} "
              f"| {r['test']['hit@1']:.3f} | {r['test']['mrr@10']:.3f} |")


if __name__ == "__main__":
    main()
