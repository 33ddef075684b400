"""Sweep the sentence-score weights on the answerer's development questions
(never on the 105 PIAF questions, which are reported only): the answerable
calibration questions and ``questions/spf_dev_answers.jsonl`` (questions in
the benchmark's style with their answering sentences). Counts the questions
whose answer holds an expected span, with the abstention model off, and
compares every setting with the defaults question by question (two-sided
sign test over the questions whose outcome changes); a default changes only
on a significant gain (p < 0.05).

    python benchmarks/answer_sweep.py
"""

from __future__ import annotations

import itertools
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

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
    from hdf_assistant.eval_data import load_question_set
    from hdf_assistant.metrics import answer_matches

    with tempfile.TemporaryDirectory() as tmp:
        assistants = _assistants(SQUAD, Path(tmp))
        items = [(file, corpus, item) for file, corpus in ANSWER_SETS
                 for item in load_question_set(HERE / "questions" / file).questions if item.expected]

        def outcomes(params: AnswerParams) -> list[bool]:
            hits = []
            for _, corpus, item in items:
                assistant = assistants[corpus]
                assistant._extractive.params = params
                answer = assistant.ask(item.question, history=item.history)
                hits.append((not answer.abstained) and answer_matches(answer.text, item.expected))
            return hits

        default = outcomes(AnswerParams())
        print(f"defaults: {sum(default)}/{len(items)}")
        results = []
        for values in itertools.product(*GRID.values()):
            setting = dict(zip(GRID, values))
            hits = outcomes(replace(AnswerParams(), **setting))
            up = sum(h and not d for h, d in zip(hits, default))
            down = sum(d and not h for h, d in zip(hits, default))
            p = binomtest(up, up + down).pvalue if up + down else 1.0
            dev_answers = sum(h for h, (f, _, _) in zip(hits, items) if f == "spf_dev_answers.jsonl")
            results.append((sum(hits), setting, up, down, p))
            print(f"{sum(hits)}/{len(items)} (style of the benchmark: {dev_answers}) {setting}: "
                  f"{up} better, {down} worse than the defaults (p = {p:.3f})", flush=True)
        best = max(results, key=lambda r: r[0])
        print(f"best: {best[0]}/{len(items)} {best[1]} (p = {best[4]:.3f} against the defaults)")


if __name__ == "__main__":
    main()
