"""Train the abstention model on the calibration questions, and report its
cross-validated precision and recall.

    python benchmarks/abstention.py                       # report only
    python benchmarks/abstention.py --write               # and save the model in the package

The calibration questions (benchmarks/questions/, written for this: none of
the 105 PIAF benchmark questions) are asked over their corpora: the bundled
panorama, the report PDF the tests make, and the PIAF Service-Public fiches.
For each one the answerer's signals are recorded with the abstention model
turned off; the certain rules (a name, year or number the question gives is
missing...) stay on. A logistic regression then learns, from the questions no
rule caught, whether the documents answer. Precision and recall are counted
over the whole decision (rules + model), the model's part out of fold
(stratified 5-fold cross-validation).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

SQUAD = ROOT.parent / "shared" / "benchmarks" / "piaf-spf" / "spf_qr_test.json"
SETS = [
    ("panorama_calibration.jsonl", "bundled"),
    ("panorama_adversarial.jsonl", "bundled"),
    ("report_calibration.jsonl", "report"),
    ("spf_calibration.jsonl", "squad"),
]


def _assistants(squad: Path, work: Path) -> dict[str, Any]:
    from report_pdf import make_report

    from hdf_assistant.answer import AbstentionModel
    from hdf_assistant.assistant import build_assistant
    from hdf_assistant.config import load_settings
    from hdf_assistant.embeddings import build_embedder
    from hdf_assistant.eval_data import load_question_set
    from hdf_assistant.evaluate import squad_workspace
    from hdf_assistant.index.builder import refresh_index

    base = load_settings(env={}, progress=False)
    embedder = build_embedder(base)
    report_corpus = work / "report"
    report_corpus.mkdir()
    make_report(report_corpus / "rapport.pdf")
    settings = {
        "bundled": base.replace(corpus_dir=ROOT / "corpus", index_dir=work / "bundled-index"),
        "report": base.replace(corpus_dir=report_corpus, index_dir=work / "report-index"),
        "squad": squad_workspace(base, squad, load_question_set(squad)),
    }
    refresh_index(settings["squad"], lambda: embedder)
    never = AbstentionModel({}, 30.0, 0.5)  # the learned part off: every signal is recorded
    out = {}
    for name, s in settings.items():
        assistant = build_assistant(s, embedder=embedder)
        assistant._extractive.model = never
        out[name] = assistant
    return out


def collect(squad: Path) -> list[dict[str, Any]]:
    from hdf_assistant.eval_data import load_question_set
    from hdf_assistant.metrics import answer_matches

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        assistants = _assistants(squad, Path(tmp))
        for file, corpus in SETS:
            for item in load_question_set(HERE / "questions" / file).questions:
                answer = assistants[corpus].ask(item.question, history=item.history)
                rows.append({
                    "set": file, "id": item.id, "question": item.question, "unanswerable": item.unanswerable,
                    "rule": answer.abstain_reason if answer.abstained else None,
                    "correct": (not answer.abstained) and bool(item.expected)
                    and answer_matches(answer.text, item.expected),
                    "signals": answer.signals, "answer": answer.text[:300],
                })
    return rows


def _decisions(rows: list[dict[str, Any]], p_answer: np.ndarray, threshold: float) -> dict[str, float]:
    abstain = np.array([r["rule"] is not None for r in rows]) | (p_answer < threshold)
    unanswerable = np.array([r["unanswerable"] for r in rows])
    correct = np.array([r["correct"] for r in rows])
    tp = int((abstain & unanswerable).sum())
    return {
        "precision": tp / max(1, int(abstain.sum())),
        "recall": tp / max(1, int(unanswerable.sum())),
        "abstained_answerable": int((abstain & ~unanswerable).sum()),
        "answered_right": int((~abstain & ~unanswerable & correct).sum()),
        "answerable": int((~unanswerable).sum()),
        "unanswerable": int(unanswerable.sum()),
        "caught_by_rules": int(np.array([r["rule"] is not None for r in rows]).sum()),
    }


def train(rows: list[dict[str, Any]], threshold: float, c: float = 0.1,
          folds: int = 5) -> tuple[dict[str, Any], dict[str, float]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    from hdf_assistant.answer.abstention import FEATURES

    X = np.array([[r["signals"].get(f, 0.0) for f in FEATURES] for r in rows])
    y = np.array([not r["unanswerable"] for r in rows], dtype=int)
    open_rows = np.array([r["rule"] is None for r in rows])
    mean, std = X[open_rows].mean(axis=0), X[open_rows].std(axis=0) + 1e-9

    def fit(idx: np.ndarray) -> LogisticRegression:
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=1000)
        model.fit((X[idx] - mean) / std, y[idx])
        return model

    p_oof = np.ones(len(rows))
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=0).split(X, y):
        train_idx = train_idx[open_rows[train_idx]]
        p_oof[test_idx] = fit(train_idx).predict_proba((X[test_idx] - mean) / std)[:, 1]
    cv = _decisions(rows, p_oof, threshold)
    final = fit(np.flatnonzero(open_rows))
    coef = final.coef_[0] / std
    model = {
        "weights": {f: round(float(w), 6) for f, w in zip(FEATURES, coef)},
        "bias": round(float(final.intercept_[0] - (final.coef_[0] * mean / std).sum()), 6),
        "threshold": threshold,
        "trained_on": f"{len(rows)} calibration questions ({int(y.sum())} answerable), benchmarks/abstention.py",
    }
    return model, cv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=SQUAD, help="the PIAF SQuAD file (its fiches are a corpus)")
    parser.add_argument("--threshold", type=float, default=0.3, help="abstain below this probability")
    parser.add_argument("--c", type=float, default=0.1, help="inverse regularisation strength")
    parser.add_argument("--rows", type=Path, help="reuse (or save) the collected signals in this JSON file")
    parser.add_argument("--write", action="store_true", help="save the model in the package")
    args = parser.parse_args()
    if args.rows and args.rows.is_file():
        rows = json.loads(args.rows.read_text(encoding="utf-8"))
    else:
        rows = collect(args.squad)
        if args.rows:
            args.rows.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    model, cv = train(rows, args.threshold, args.c)
    print(json.dumps({"cross_validated": cv, "model": model}, indent=2, ensure_ascii=False))
    if args.write:
        from hdf_assistant.answer.abstention import MODEL_FILE

        path = ROOT / "src" / "hdf_assistant" / "answer" / MODEL_FILE
        path.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
        print(f"written: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
