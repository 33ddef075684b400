"""Metric arithmetic on hand-made results."""

import pytest

from hdf_assistant.evaluate.metrics import (
    answer_matches,
    compare_runs,
    compute_metrics,
    judge,
    normalize_answer,
    same_source,
    source_rank,
)


@pytest.mark.parametrize("form", ["1791", "1 791", "1,791", "1.791", "1\u202f791", "1\u00a0791"])
def test_thousands_separators_are_ignored(form: str) -> None:
    assert answer_matches(f"Il y a {form} startups référencées.", ["1 791"])
    assert answer_matches("Il y a 1791 startups.", [form])


def test_decimals_case_spaces_and_apostrophes() -> None:
    assert normalize_answer("2,7 %") == "2,7 %"
    assert not answer_matches("un taux de 2,7 %", ["27"])
    assert answer_matches("Un taux de  3,2 %\nen France", ["3,2 % EN france"])
    assert answer_matches("l’économie", ["l'économie"])
    assert normalize_answer("15 000 000 salariés") == "15000000 salariés"
    assert not answer_matches("OVH", ["Roubaix"])


def test_judge_rules() -> None:
    assert judge("1791 startups", False, ["1791"], False) is True
    assert judge("1791 startups", True, ["1791"], False) is False  # an abstention is never right
    assert judge("Je ne sais pas", True, [], True) is True
    assert judge("42", False, [], True) is False
    assert judge("42", False, [], False) is None


def test_source_rank_by_name_or_stem() -> None:
    sources = ["a.txt", "b.pdf", "F34355.txt", "b.pdf"]
    assert source_rank(sources, "F34355") == 3
    assert source_rank(sources, "b.pdf") == 2
    assert source_rank(sources, "dir/a.txt") == 1
    assert source_rank(sources, "zzz.txt") is None
    assert source_rank(sources, None) is None
    assert same_source("sub/x.md", "x.md") and not same_source("x.md", "x.txt")
    # a pattern names every file of one Service-Public fiche
    fiches = ["F1050_vehicule--en-ligne.txt", "F1214_logement--retard.txt", "F1214_logement--meuble.txt"]
    assert source_rank(fiches, "F1214_*") == 2 and source_rank(fiches, "F99_*") is None


def row(rank, correct=None, abstained=False, unanswerable=False, expected=("x",), ms=10.0, id_="q"):
    return {
        "id": id_, "question": id_, "expected_source": None if rank == "none" else "s.txt",
        "source_rank": None if rank in ("none", "miss") else rank, "correct": correct,
        "abstained": abstained, "unanswerable": unanswerable,
        "expected": [] if unanswerable else list(expected), "timings_ms": {"total": ms},
    }


def test_retrieval_answer_abstention_and_latency_figures() -> None:
    rows = [
        row(1, True, ms=10), row(2, False, ms=20), row(4, True, ms=30), row("miss", False, ms=40),
        row(11, True, ms=50),
        row("none", True, abstained=True, unanswerable=True, ms=60),
        row("none", False, abstained=False, unanswerable=True, ms=70),
        row("none", False, abstained=True, ms=80),  # abstained on an answerable question
    ]
    m = compute_metrics(rows)
    assert m["n"] == 8
    r = m["retrieval"]
    assert r["n"] == 5
    assert (r["hit@1"], r["hit@3"], r["hit@5"]) == (0.2, 0.4, 0.6)
    assert r["mrr@10"] == pytest.approx(round((1 + 1 / 2 + 1 / 4) / 5, 4))
    assert m["n_answerable"] == 6 and m["answer_accuracy"] == 0.5
    a = m["abstention"]
    assert a["n_unanswerable"] == 2
    assert a["precision"] == 0.5 and a["recall"] == 0.5 and a["rate"] == 0.25
    assert m["latency_ms"] == {"p50": 45.0, "p95": 76.5}


def test_empty_categories_give_none_not_errors() -> None:
    m = compute_metrics([row("none", None, expected=())])
    assert m["retrieval"]["hit@1"] is None and m["answer_accuracy"] is None
    assert m["abstention"]["precision"] is None and m["abstention"]["recall"] is None


def test_compare_gives_deltas_and_changed_questions() -> None:
    old = [row(1, True, id_="a"), row(3, False, id_="b"), row(2, True, id_="c")]
    new = [row(1, True, id_="a"), row(1, True, id_="b"), row("miss", False, id_="c")]
    result = compare_runs(new, old)
    assert result["metrics"]["retrieval.hit@1"] == {"old": 0.3333, "new": 0.6667, "delta": 0.3334}
    assert result["metrics"]["answer_accuracy"]["delta"] == 0.0
    changed = {c["id"]: c["changes"] for c in result["changed"]}
    assert set(changed) == {"b", "c"}
    assert changed["b"]["source_rank"] == {"old": 3, "new": 1}
    assert changed["c"]["correct"] == {"old": True, "new": False}


def test_overlap_with_long_gold_spans() -> None:
    from hdf_assistant.evaluate.metrics import overlaps

    gold = "une autre voie dans le règlement de conflits comme les ruptures, séparations et divorces"
    assert overlaps("La médiation offre une autre voie dans le règlement de conflits familiaux.", [gold])
    assert not overlaps("La médiation est gratuite.", [gold])
    rows = [
        {"expected": ["x"], "correct": False, "overlap": True},
        {"expected": ["y"], "correct": False, "overlap": False},
    ]
    assert compute_metrics(rows)["answer_overlap"] == 0.5
