"""Train the abstention model on the calibration questions and the development themes, and
report its precision and recall across themes.

    python benchmarks/abstention.py                       # report only
    python benchmarks/abstention.py --write               # and save the model in the package

The calibration questions (benchmarks/questions/, written for this: none of
the 105 PIAF benchmark questions) are asked over their corpora: the bundled
panorama, the report PDF the tests make, and the PIAF Service-Public fiches;
the questions of the development themes (questions/themes/, see domains.py)
over their theme's fiches. The held-out themes are never read here.
For each one the answerer's signals are recorded with the abstention model
turned off; the certain rules (a name, year or number the question gives is
missing...) stay on. A logistic regression then learns, from the questions no
rule caught, whether the documents answer. Precision and recall are counted
over the whole decision (rules + model), the model's part out of group: each
corpus (the panorama, the report, the PIAF fiches, each development theme) is
predicted by a model trained on the others, as a new user's documents would be.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HERE))

SQUAD = ROOT.parent / "shared" / "benchmarks" / "piaf-spf" / "spf_qr_test.json"
ZIP = ROOT.parent / "shared" / "benchmarks" / "piaf-spf" / "service_public_fiches_txt_v2.zip"
SETS = [
    ("panorama_calibration.jsonl", "bundled"),
    ("panorama_adversarial.jsonl", "bundled"),
    ("report_calibration.jsonl", "report"),
    ("spf_calibration.jsonl", "squad"),
]
#: where ``--write`` saves the model (the package's ``abstention.MODEL_FILE``)
MODEL_PATH = ROOT / "src" / "hdf_assistant" / "answer" / "abstention_model.json"
#: the corpus each set is asked over: the unit of the cross-validation
GROUPS = {"panorama_calibration.jsonl": "panorama", "panorama_adversarial.jsonl": "panorama",
          "report_calibration.jsonl": "report", "spf_calibration.jsonl": "piaf-fiches"}


def _assistants(squad: Path, work: Path, params: Any = None, learned: bool = False) -> dict[str, Any]:
    """An assistant per calibration corpus, answering with ``params`` (default: the shipped settings) and
    the learned check off (every signal recorded) unless ``learned``. The corpora are indexed once."""
    from report_pdf import make_report

    from hdf_assistant.answer import AbstentionModel, ExtractiveAnswerer
    from hdf_assistant.assistant import build_assistant, build_embedder, refresh_index
    from hdf_assistant.config import load_settings
    from hdf_assistant.evaluate.questions import load_question_set
    from hdf_assistant.evaluate.run import squad_workspace

    base = load_settings(env={}, progress=False)
    embedder = build_embedder(base)
    report_corpus = work / "report"
    if not (report_corpus / "rapport.pdf").is_file():
        report_corpus.mkdir(exist_ok=True)
        make_report(report_corpus / "rapport.pdf")
    settings = {
        "bundled": base.replace(corpus_dir=ROOT / "corpus", index_dir=work / "bundled-index"),
        "report": base.replace(corpus_dir=report_corpus, index_dir=work / "report-index"),
        "squad": squad_workspace(base, squad, load_question_set(squad)),
    }
    refresh_index(settings["squad"], lambda: embedder)
    never = None if learned else AbstentionModel({}, 30.0, 0.5)  # the learned part off: every signal recorded
    return {name: build_assistant(s, embedder=embedder, answerer=ExtractiveAnswerer(embedder, params, model=never))
            for name, s in settings.items()}


#: keys the collection adds to a row's signals: the completed question and the sentence judged, whose
#: embeddings the model weighs too (``pair_features``)
QUERY, SENTENCE = "_query", "_sentence"


def collect(squad: Path, zip_path: Path | None = None) -> list[dict[str, Any]]:
    """Signals of every calibration question, and of the development themes' (when ``zip_path``), each
    with the completed question and the sentence the signals were taken from."""
    from hdf_assistant.answer import answerer

    shipped = answerer.signals

    def with_text(q: Any, best: Any, ev: Any, corpus: Any = None) -> dict[str, Any]:
        return {**shipped(q, best, ev, corpus), QUERY: q.query, SENTENCE: best.context}

    answerer.signals = with_text
    try:
        return _collect(squad, zip_path)
    finally:
        answerer.signals = shipped


def load_rows(path: Path | None, squad: Path, zip_path: Path | None) -> list[dict[str, Any]]:
    """The rows saved in ``path`` by an earlier run, or collected now (and saved there when given)."""
    if path is not None and path.is_file():
        return list(json.loads(path.read_text(encoding="utf-8")))
    rows = collect(squad, zip_path)
    if path is not None:
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return rows


def shipped_model() -> dict[str, Any]:
    """The model file in the package, as written by ``--write``."""
    return dict(json.loads(MODEL_PATH.read_text(encoding="utf-8")))


def _collect(squad: Path, zip_path: Path | None) -> list[dict[str, Any]]:
    from hdf_assistant.evaluate.metrics import answer_matches
    from hdf_assistant.evaluate.questions import load_question_set

    rows = []
    if zip_path is not None:
        import domains

        for row in domains.collect(domains.split_themes("development"), zip_path, no_model=True):
            rows.append({"set": f"themes/{row['theme']}", "group": row["theme"], "id": row["id"],
                         "question": row["question"], "unanswerable": row["unanswerable"], "rule": row["rule"],
                         "correct": row["correct"], "signals": row["signals"], "answer": row["answer"][:300]})
    with tempfile.TemporaryDirectory() as tmp:
        assistants = _assistants(squad, Path(tmp))
        for file, corpus in SETS:
            for item in load_question_set(HERE / "questions" / file).questions:
                answer = assistants[corpus].ask(item.question, history=item.history)
                rows.append({
                    "set": file, "group": GROUPS[file], "id": item.id, "question": item.question,
                    "unanswerable": item.unanswerable,
                    "rule": answer.abstain_reason if answer.abstained else None,
                    "correct": (not answer.abstained) and bool(item.expected)
                    and answer_matches(answer.text, item.expected),
                    "signals": answer.signals, "answer": answer.text[:300],
                })
    return rows


def _decisions(rows: list[dict[str, Any]], p_answer: np.ndarray, threshold: float) -> dict[str, Any]:
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
        "false_refusal_rate": round(float((abstain & ~unanswerable).sum()) / max(1, int((~unanswerable).sum())), 4),
        "unanswerable_answered_rate": round(float((~abstain & unanswerable).sum()) / max(1, int(unanswerable.sum())),
                                            4),
    }


def _matrix(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from hdf_assistant.answer.abstention import FEATURES

    X = np.array([[r["signals"].get(f, 0.0) for f in FEATURES] for r in rows])
    y = np.array([not r["unanswerable"] for r in rows], dtype=int)
    open_rows = np.array([r["rule"] is None and bool(r["signals"]) for r in rows])
    return X, y, open_rows


def pairs(rows: list[dict[str, Any]]) -> np.ndarray:
    """``pair_features`` of each row's question and judged sentence (zeros when none was judged)."""
    from hdf_assistant.answer.abstention import pair_features
    from hdf_assistant.assistant import build_embedder
    from hdf_assistant.config import load_settings

    embedder = build_embedder(load_settings(env={}, progress=False))
    judged = [i for i, r in enumerate(rows) if QUERY in r["signals"]]
    q = embedder.embed_queries([rows[i]["signals"][QUERY] for i in judged])
    s = embedder.embed_sentences([rows[i]["signals"][SENTENCE] for i in judged])
    out = np.zeros((len(rows), 2 * q.shape[1]), dtype=np.float32)
    for row, qv, sv in zip(judged, q, s):
        out[row] = pair_features(qv, sv)
    return out


def with_pairs(rows: list[dict[str, Any]], axes: int,
               pair_matrix: np.ndarray | None = None) -> Callable[[np.ndarray], np.ndarray] | None:
    """Features of a fold: the named signals and the pairs projected on ``axes`` principal axes fitted on
    the fold's rows only (None when ``axes`` is 0: the named signals alone)."""
    if not axes:
        return None
    from sklearn.decomposition import PCA

    signals, _, _ = _matrix(rows)
    matrix = pairs(rows) if pair_matrix is None else pair_matrix

    def features(fit: np.ndarray) -> np.ndarray:
        projection = PCA(axes, random_state=0).fit(matrix[fit])
        return np.hstack([signals, projection.transform(matrix)])

    return features


def out_of_group(rows: list[dict[str, Any]], c: float,
                 features: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """P(answerable) of every row from a model that never saw its group (its corpus). ``features``
    (the rows the fold fits on -> a matrix of every row) replaces the shipped signals: a probe's
    features, any projection of them fitted on the fold's rows only."""
    from sklearn.linear_model import LogisticRegression

    X, y, open_rows = _matrix(rows)
    groups = np.array([r["group"] for r in rows])
    p = np.ones(len(rows))
    for group in sorted(set(groups)):
        held = groups == group
        fit_rows = open_rows & ~held
        if features is not None:
            X = features(fit_rows)
        mean, std = X[fit_rows].mean(axis=0), X[fit_rows].std(axis=0) + 1e-9
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
        model.fit((X[fit_rows] - mean) / std, y[fit_rows])
        p[held] = model.predict_proba((X[held] - mean) / std)[:, 1]
    return p


def train(rows: list[dict[str, Any]], threshold: float, c: float = 0.1, axes: int = 0,
          pair_matrix: np.ndarray | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model fitted on every open row, and the decisions of the out-of-group models. With ``axes``,
    the pairs' principal axes are weighed too, folded into one weight per pair feature."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    from hdf_assistant.answer.abstention import FEATURES

    X, y, open_rows = _matrix(rows)
    if axes and pair_matrix is None:
        pair_matrix = pairs(rows)
    p_oog = out_of_group(rows, c, with_pairs(rows, axes, pair_matrix))
    cv = _decisions(rows, p_oog, threshold)
    cv["by_group"] = {g: _decisions([r for r in rows if r["group"] == g],
                                    p_oog[[r["group"] == g for r in rows]], threshold)
                      for g in sorted({r["group"] for r in rows})}
    projection = None
    if axes and pair_matrix is not None:
        projection = PCA(axes, random_state=0).fit(pair_matrix[open_rows])
        X = np.hstack([X, projection.transform(pair_matrix)])
    mean, std = X[open_rows].mean(axis=0), X[open_rows].std(axis=0) + 1e-9
    final = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    final.fit((X[open_rows] - mean) / std, y[open_rows])
    coef = final.coef_[0] / std
    bias = float(final.intercept_[0] - (final.coef_[0] * mean / std).sum())
    groups = sorted({r["group"] for r in rows})
    model: dict[str, Any] = {
        "weights": {f: round(float(w), 6) for f, w in zip(FEATURES, coef)},
        "bias": round(bias, 6),
        "threshold": threshold,
        "c": c,
    }
    model |= {
        "trained_on": f"{len(rows)} development questions ({int(y.sum())} answerable) over {len(groups)} corpora "
                      f"({', '.join(groups)}), benchmarks/abstention.py",
    }
    if projection is not None:
        # w . (pair - mean) @ axes.T  ==  pair . (w @ axes)  -  w . (mean @ axes.T)
        axis_weights = coef[len(FEATURES):]
        model["bias"] = round(bias - float(axis_weights @ (projection.components_ @ projection.mean_)), 6)
        model["axes"] = axes
        model["pair_weights"] = [round(float(w), 6) for w in axis_weights @ projection.components_]
    return model, cv


def sweep(rows: list[dict[str, Any]], axes: int = 0, pair_matrix: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Out-of-group decisions for each regularisation and threshold (the development rows only)."""
    out = []
    features = with_pairs(rows, axes, pair_matrix)
    for c in (0.03, 0.1, 0.3, 1.0):
        p = out_of_group(rows, c, features)
        for threshold in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5):
            d = _decisions(rows, p, threshold)
            out.append({"c": c, "threshold": threshold, "false_refusal_rate": d["false_refusal_rate"],
                        "unanswerable_answered_rate": d["unanswerable_answered_rate"],
                        "balanced_accuracy": round(1 - (d["false_refusal_rate"] + d["unanswerable_answered_rate"]) / 2,
                                                   4)})
    return out


#: principal axes of the embedding pairs: chosen out of group on the development rows among 4, 8, 16
#: and 32 (``python benchmarks/abstention_reach.py --interactions K``)
AXES = 16


#: the issue's ceiling: unanswerable questions answered out of group, on the development corpora
MAX_ANSWERED = 0.15


def choose(lines: list[dict[str, Any]], tolerance: float = 0.02) -> tuple[float, float]:
    """For each C, the threshold with the fewest out-of-group false refusals among those that answer
    at most MAX_ANSWERED of the unanswerable questions; then the most regularised C whose false
    refusals are within ``tolerance`` of the best: the simplest model that does as well, as far as
    the development corpora can tell."""
    best_by_c = {}
    for c in sorted({line["c"] for line in lines}):
        safe = [line for line in lines if line["c"] == c and line["unanswerable_answered_rate"] <= MAX_ANSWERED]
        if safe:
            best_by_c[c] = min(safe, key=lambda line: (line["false_refusal_rate"], -line["threshold"]))
    if not best_by_c:
        raise ValueError(f"no setting answers at most {MAX_ANSWERED:.0%} of the unanswerable questions")
    fewest = min(line["false_refusal_rate"] for line in best_by_c.values())
    c = min(c for c, line in best_by_c.items() if line["false_refusal_rate"] <= fewest + tolerance)
    return c, best_by_c[c]["threshold"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=SQUAD, help="the PIAF SQuAD file (its fiches are a corpus)")
    parser.add_argument("--threshold", type=float, help="abstain below this probability (default: chosen)")
    parser.add_argument("--c", type=float, help="inverse regularisation strength (default: chosen)")
    parser.add_argument("--rows", type=Path, help="reuse (or save) the collected signals in this JSON file")
    parser.add_argument("--zip", type=Path, default=ZIP, help="the Service-Public fiches zip (development themes)")
    parser.add_argument("--write", action="store_true", help="save the model in the package")
    parser.add_argument("--sweep", action="store_true", help="print the out-of-group figures of C x threshold")
    parser.add_argument("--axes", type=int, default=AXES,
                        help="principal axes of the question-sentence embedding pairs the model weighs (0: none)")
    args = parser.parse_args()
    rows = load_rows(args.rows, args.squad, args.zip)
    pair_matrix = pairs(rows) if args.axes else None
    lines = sweep(rows, args.axes, pair_matrix)
    chosen_c, chosen_threshold = choose(lines)
    if args.sweep:
        for line in lines:
            print(json.dumps(line))
    c = args.c if args.c is not None else chosen_c
    threshold = args.threshold if args.threshold is not None else chosen_threshold
    print(f"C = {c}, threshold = {threshold} (chosen: {chosen_c}, {chosen_threshold})", file=sys.stderr)
    model, cv = train(rows, threshold, c, args.axes, pair_matrix)
    shown = {k: v for k, v in model.items() if k != "pair_weights"}
    print(json.dumps({"cross_group": cv, "model": shown}, indent=2, ensure_ascii=False))
    if args.write:
        MODEL_PATH.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
        print(f"written: {MODEL_PATH}", file=sys.stderr)


if __name__ == "__main__":
    main()
