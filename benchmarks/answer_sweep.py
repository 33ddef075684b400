"""Sweep the sentence-score weights on the answerer's development questions
(never on the 105 PIAF questions, which are reported only): the calibration
questions and ``questions/spf_dev_answers.jsonl`` (questions in the
benchmark's style with their answering sentences). Counts, per set, the
answerable questions whose answer holds an expected span (and the
unanswerable ones refused), and compares every setting with the defaults
question by question (two-sided sign test over the questions whose outcome
changes); a default changes only on a significant gain (p < 0.05).

    python benchmarks/answer_sweep.py                      # the grid, abstention model off
    python benchmarks/answer_sweep.py --abstention \\
        --variant '{"next_sentence": false}' \\
        --variant '{"best_document_passages": 0, "opening_weight": 0}'   # chosen settings, model on
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from abstention import SETS, SQUAD, _assistants  # noqa: E402

ANSWER_SETS = [*SETS, ("spf_dev_answers.jsonl", "squad")]
GRID = {
    "lexical_weight": [0.1, 0.25, 0.4],
    "second_sentence_margin": [0.0, 0.02, 0.04, 0.08],
    "passages": [3, 5],
}


def main() -> None:
    from scipy.stats import binomtest

    from hdf_assistant.answer import AnswerParams
    from hdf_assistant.evaluate.metrics import answer_matches
    from hdf_assistant.evaluate.questions import load_question_set

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", default=[], metavar="JSON",
                        help="AnswerParams fields to compare with the defaults (repeatable; default: the grid)")
    parser.add_argument("--abstention", action="store_true", help="keep the shipped abstention model on")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        items = [(file, corpus, item) for file, corpus in ANSWER_SETS
                 for item in load_question_set(HERE / "questions" / file).questions
                 if item.expected or (args.abstention and item.unanswerable)]

        def outcomes(params: AnswerParams) -> tuple[list[bool], float]:
            hits, quoted = [], []
            assistants = _assistants(SQUAD, Path(tmp), params, learned=args.abstention)
            for _, corpus, item in items:
                assistant = assistants[corpus]
                answer = assistant.ask(item.question, history=item.history)
                if not answer.abstained:
                    quoted.append(sum(len(c.text) for c in answer.citations))
                hits.append(answer.abstained if item.unanswerable else
                            (not answer.abstained) and answer_matches(answer.text, item.expected))
            return hits, sum(quoted) / max(1, len(quoted))

        def per_set(hits: list[bool]) -> str:
            parts = []
            for file, _ in ANSWER_SETS:
                rows = [(h, item) for h, (f, _, item) in zip(hits, items) if f == file]
                answered = [h for h, item in rows if not item.unanswerable]
                refused = [h for h, item in rows if item.unanswerable]
                part = f"{file.split('.')[0]} {sum(answered)}/{len(answered)}"
                parts.append(part + (f", refused {sum(refused)}/{len(refused)}" if refused else ""))
            return "; ".join(parts)

        default, length = outcomes(AnswerParams())
        print(f"defaults: {sum(default)}/{len(items)}, quoted {length:.0f} characters: {per_set(default)}")
        settings: list[dict[str, Any]] = [json.loads(v) for v in args.variant] or [
            dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]
        results = []
        for setting in settings:
            hits, length = outcomes(replace(AnswerParams(), **setting))
            up = sum(h and not d for h, d in zip(hits, default))
            down = sum(d and not h for h, d in zip(hits, default))
            p = binomtest(up, up + down).pvalue if up + down else 1.0
            results.append((sum(hits), setting, up, down, p))
            print(f"{sum(hits)}/{len(items)} {setting}: {up} better, {down} worse than the defaults (p = {p:.3f}), "
                  f"quoted {length:.0f} characters: {per_set(hits)}", flush=True)
        best = max(results, key=lambda r: r[0])
        print(f"best: {best[0]}/{len(items)} {best[1]} (p = {best[4]:.3f} against the defaults)")


if __name__ == "__main__":
    main()
