"""Judging answers and computing evaluation metrics, from result rows alone.

A result row is the dict written to ``--out`` (``correct``, ``source_rank``,
``abstained``, ``unanswerable``, ``expected``, ``expected_source``,
``timings_ms``...), so an old results file can be re-measured for
``--compare`` with exactly the same arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from fnmatch import fnmatch
from pathlib import PurePosixPath
from typing import Any

from hdf_assistant.analysis import normalize_answer


def answer_matches(answer: str, expected: Iterable[str]) -> bool:
    """True when ``answer`` contains one of ``expected`` after normalisation."""
    norm = normalize_answer(answer)
    return any(normalize_answer(e) and normalize_answer(e) in norm for e in expected)


def same_source(cited: str, expected: str) -> bool:
    """A cited file matches the expected source by path, by name, by name
    without extension ("F34355" matches "F34355.txt"), or by a pattern of
    names ("F1214_*": any file of that fiche)."""
    if cited == expected:
        return True
    c, e = PurePosixPath(cited), PurePosixPath(expected)
    if any(ch in expected for ch in "*?["):
        return fnmatch(c.name, e.name) or fnmatch(cited, expected)
    return c.name == e.name or (not e.suffix and c.stem == e.name)


def source_rank(retrieved_sources: Sequence[str], expected: str | None) -> int | None:
    """1-based rank of the first retrieved chunk from ``expected``, or None."""
    if not expected:
        return None
    for rank, source in enumerate(retrieved_sources, start=1):
        if same_source(source, expected):
            return rank
    return None


_WORDS = re.compile(r"\w+")


def overlaps(answer: str, expected: Iterable[str], threshold: float = 0.5) -> bool:
    """True when the answer holds at least ``threshold`` of the words of one
    expected span (for long gold spans, as in SQuAD, that no sentence quotes whole)."""
    words = set(_WORDS.findall(normalize_answer(answer)))
    for e in expected:
        gold = _WORDS.findall(normalize_answer(e))
        if gold and sum(w in words for w in gold) / len(gold) >= threshold:
            return True
    return False


def judge(answer_text: str, abstained: bool, expected: Sequence[str], unanswerable: bool) -> bool | None:
    """Right or wrong, or None when the question says nothing to judge by."""
    if unanswerable:
        return abstained
    if expected:
        return (not abstained) and answer_matches(answer_text, expected)
    return None


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 1)


def compute_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The summary of a run: retrieval, answers, abstention, latency."""
    with_source = [r for r in rows if r.get("expected_source")]
    ranks = [r.get("source_rank") for r in with_source]

    def hit(k: int) -> float | None:
        return _ratio(sum(1 for x in ranks if x is not None and x <= k), len(ranks))

    mrr = round(sum(1 / x for x in ranks if x is not None and x <= 10) / len(ranks), 4) if ranks else None
    answerable = [r for r in rows if r.get("expected") and not r.get("unanswerable")]
    unanswerable = [r for r in rows if r.get("unanswerable")]
    abstained = [r for r in rows if r.get("abstained")]
    latencies = [float(r["timings_ms"]["total"]) for r in rows if r.get("timings_ms", {}).get("total") is not None]
    return {
        "n": len(rows),
        "retrieval": {
            "n": len(with_source),
            "hit@1": hit(1),
            "hit@3": hit(3),
            "hit@5": hit(5),
            "mrr@10": mrr,
        },
        "answer_accuracy": _ratio(sum(1 for r in answerable if r.get("correct")), len(answerable)),
        "answer_overlap": _ratio(sum(1 for r in answerable if r.get("overlap")), len(answerable)),
        "n_answerable": len(answerable),
        "abstention": {
            "precision": _ratio(sum(1 for r in abstained if r.get("unanswerable")), len(abstained)),
            "recall": _ratio(sum(1 for r in unanswerable if r.get("abstained")), len(unanswerable)),
            "n_unanswerable": len(unanswerable),
            "rate": _ratio(len(abstained), len(rows)),
        },
        "latency_ms": {"p50": _percentile(latencies, 0.5), "p95": _percentile(latencies, 0.95)},
    }


def flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"retrieval": {"hit@1": x}} -> {"retrieval.hit@1": x}."""
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def compare_runs(new_rows: Sequence[dict[str, Any]], old_rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Metric deltas (new - old) and the questions whose outcome changed."""
    new, old = flatten(compute_metrics(new_rows)), flatten(compute_metrics(old_rows))
    deltas = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, int | float) and isinstance(before, int | float):
            deltas[key] = {"old": before, "new": value, "delta": round(value - before, 4)}
    old_by_key = {(r.get("id"), r.get("question")): r for r in old_rows}
    old_by_id = {r.get("id"): r for r in old_rows}
    changed = []
    for row in new_rows:
        before = old_by_key.get((row.get("id"), row.get("question"))) or old_by_id.get(row.get("id"))
        if before is None:
            continue
        diffs = {
            field: {"old": before.get(field), "new": row.get(field)}
            for field in ("correct", "source_rank", "abstained")
            if before.get(field) != row.get(field)
        }
        if diffs:
            changed.append({"id": row.get("id"), "question": row.get("question"), "changes": diffs})
    return {"metrics": deltas, "changed": changed}
