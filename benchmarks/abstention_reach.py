"""How far the abstention signals can go on documents nobody tuned on (issue 29's goal: on held-out
themes, at most 5 % of answerable questions refused and 15 % of unanswerable ones answered).

    python benchmarks/abstention_reach.py                          # the named signals alone
    python benchmarks/abstention_reach.py --interactions 16        # and the embedding pairs

The development rows of ``benchmarks/abstention.py`` (calibration questions and the six development
themes; the held-out themes are never read), each predicted by a model that never saw its corpus. On
the development themes it prints the whole trade-off: the false refusals at the lowest threshold that
answers at most 15 % of the unanswerable questions, the unanswerable questions answered at the highest
threshold that refuses at most 5 % of the answerable ones, and the ROC AUC of the questions no certain
rule decides. When no threshold gives both, no choice of threshold (fixed, or adapted to a corpus)
reaches the goal with these signals: the signals themselves must separate better.

``--interactions K`` adds, to the named signals, the question's and the judged sentence's e5 vectors
combined (``pair_features``: element-wise product and absolute difference, 768 numbers) projected on K
principal axes fitted on each fold's rows (what ``benchmarks/abstention.py --axes K`` trains).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import abstention  # noqa: E402
import domains  # noqa: E402

#: the goal on held-out themes (issue 29)
MAX_REFUSED = 0.05
MAX_ANSWERED = 0.15
def reach(rows: list[dict[str, Any]], p: np.ndarray, groups: set[str], threshold: float) -> dict[str, Any]:
    """The trade-off of out-of-group probabilities ``p`` over the rows of ``groups``."""
    from sklearn.metrics import roc_auc_score

    mask = np.array([r["group"] in groups for r in rows])
    rule = np.array([r["rule"] is not None for r in rows])
    answerable = np.array([not r["unanswerable"] for r in rows])

    def rates(t: float) -> tuple[float, float]:
        abstain = rule | (p < t)
        refused = (abstain & answerable & mask).sum() / max(1, (answerable & mask).sum())
        answered = (~abstain & ~answerable & mask).sum() / max(1, (~answerable & mask).sum())
        return round(float(refused), 4), round(float(answered), 4)

    grid = [round(t, 2) for t in np.arange(0.01, 1.0, 0.01)]
    curve = {t: rates(t) for t in grid}
    safe = [t for t in grid if curve[t][1] <= MAX_ANSWERED]
    kind = [t for t in grid if curve[t][0] <= MAX_REFUSED]
    both = [t for t in grid if curve[t][0] <= MAX_REFUSED and curve[t][1] <= MAX_ANSWERED]
    open_rows = mask & ~rule
    return {
        "answerable": int((answerable & mask).sum()), "unanswerable": int((~answerable & mask).sum()),
        "decided_by_rules": int((rule & mask).sum()),
        "auc_open_rows": round(float(roc_auc_score(answerable[open_rows], p[open_rows])), 3),
        f"at_threshold_{threshold}": dict(zip(("refused", "answered"), curve[round(threshold, 2)])),
        "refused_when_answering_at_most_15pc": dict(zip(("threshold", "refused", "answered"),
                                                        (safe[0], *curve[safe[0]]))) if safe else None,
        "answered_when_refusing_at_most_5pc": dict(zip(("threshold", "refused", "answered"),
                                                       (kind[-1], *curve[kind[-1]]))) if kind else None,
        "thresholds_meeting_both": both,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=abstention.SQUAD)
    parser.add_argument("--zip", type=Path, default=abstention.ZIP)
    parser.add_argument("--rows", type=Path, help="reuse (or save) the collected rows in this JSON file")
    parser.add_argument("--c", type=float, default=None, help="regularisation (default: the shipped model's)")
    parser.add_argument("--interactions", type=int, default=0, metavar="K",
                        help="add the embeddings' interactions on K principal axes (a probe)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    rows = abstention.load_rows(args.rows, args.squad, args.zip)
    shipped = abstention.shipped_model()
    c = args.c if args.c is not None else float(shipped["c"])
    threshold = float(shipped["threshold"])
    variants: dict[str, Any] = {"named signals": None}
    if args.interactions:
        variants[f"+ embedding pairs ({args.interactions} axes)"] = abstention.with_pairs(rows, args.interactions)
    themes = set(domains.split_themes("development"))
    report = {}
    for name, features in variants.items():
        p = abstention.out_of_group(rows, c, features)
        report[name] = {"development themes": reach(rows, p, themes, threshold),
                        "all development corpora": reach(rows, p, {r["group"] for r in rows}, threshold)}
    print(json.dumps({"c": c, "variants": report}, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps({"c": c, "variants": report}, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")


if __name__ == "__main__":
    main()
