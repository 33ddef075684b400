"""Sweep the sentence-score weights on the calibration questions (the
development set of the answerer; never on the 105 PIAF questions, which are
reported only). Counts the answerable calibration questions whose answer holds
the expected span, with the abstention model off.

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

GRID = {
    "lexical_weight": [0.1, 0.25, 0.4],
    "second_sentence_margin": [0.0, 0.02, 0.04],
    "passages": [3, 5],
}


def main() -> None:
    from hdf_assistant.answer import AnswerParams
    from hdf_assistant.eval_data import load_question_set
    from hdf_assistant.metrics import answer_matches

    with tempfile.TemporaryDirectory() as tmp:
        assistants = _assistants(SQUAD, Path(tmp))
        items = [(corpus, item) for file, corpus in SETS
                 for item in load_question_set(HERE / "questions" / file).questions if item.expected]
        results = []
        for values in itertools.product(*GRID.values()):
            params = replace(AnswerParams(), **dict(zip(GRID, values)))
            right = 0
            spf = 0
            for corpus, item in items:
                assistant = assistants[corpus]
                assistant._extractive.params = params
                answer = assistant.ask(item.question, history=item.history)
                hit = (not answer.abstained) and answer_matches(answer.text, item.expected)
                right += hit
                spf += hit and corpus == "squad"
            results.append((right, dict(zip(GRID, values))))
            print(f"{right}/{len(items)} (Service-Public fiches: {spf})  {dict(zip(GRID, values))}", flush=True)
        best = max(results, key=lambda r: r[0])
        print(f"best: {best[0]}/{len(items)} {best[1]}")


if __name__ == "__main__":
    main()
