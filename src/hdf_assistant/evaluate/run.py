"""Batch evaluation: question file -> answers (through ``Assistant.ask``,
exactly as ``ask`` does) -> judgements -> metrics -> report.

A SQuAD file brings its own corpus: its articles are written as text files in
a cache directory keyed by the file's content hash and indexed there with the
ordinary incremental indexer, so a second run re-embeds nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdf_assistant.analysis import ANALYZER_VERSION
from hdf_assistant.assistant import Assistant
from hdf_assistant.atomic import atomic_write_text
from hdf_assistant.config import Settings, embedding_prefixes
from hdf_assistant.evaluate.metrics import compare_runs, compute_metrics, judge, overlaps, source_rank
from hdf_assistant.evaluate.questions import EvalQuestion, QuestionSet
from hdf_assistant.index.scope import Scope
from hdf_assistant.ingest.chunking import SPLITTER_VERSION
from hdf_assistant.ingest.reader import file_sha256
from hdf_assistant.schema import place

log = logging.getLogger(__name__)


@dataclass
class EvalRun:
    """Result rows (one per question) and the summary metrics."""

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    config: dict[str, Any]


def squad_workspace(settings: Settings, squad_file: Path, questions: QuestionSet) -> Settings:
    """Write the SQuAD articles as a corpus in a cache directory and return
    settings pointing at it (its index is kept beside it and refreshed
    incrementally, so an unchanged file is never re-embedded)."""
    assert questions.articles is not None
    root = settings.eval_cache_dir / f"squad-{file_sha256(squad_file)[:16]}"
    corpus = root / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for name, text in questions.articles.items():
        target = corpus / name
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            atomic_write_text(target, text)
    query, passage = embedding_prefixes(settings)
    # everything that decides the chunks and vectors: another value, another cached index
    key = (f"{settings.embed_model}|{settings.chunk_size}|{settings.chunk_overlap}|{settings.embed_backend}|"
           f"{query}|{passage}|splitter {SPLITTER_VERSION}|analyzer {ANALYZER_VERSION}")
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    # a local index beside the corpus, or an index of its own in the database (store = postgres)
    return settings.replace(corpus_dir=corpus, index_dir=root / f"index-{digest}", index_name=f"squad_{digest}")


def evaluate_question(assistant: Assistant, item: EvalQuestion, top_k: int | None,
                      scope: Scope | None = None) -> dict[str, Any]:
    """Ask one question the way ``ask`` does (inside ``scope``: ``eval --collection/--as``) and judge the answer."""
    answer = assistant.ask(item.question, history=item.history, top_k=top_k, scope=scope)
    row: dict[str, Any] = {**item.to_dict(), **answer.to_dict()}
    row["question"] = item.question
    row["correct"] = judge(answer.text, answer.abstained, item.expected, item.unanswerable)
    row["overlap"] = (not answer.abstained) and overlaps(answer.text, item.expected) if item.expected else None
    row["source_rank"] = source_rank([r.chunk.source for r in answer.retrieved], item.expected_source)
    return row


def run_eval(
    assistant: Assistant,
    questions: QuestionSet,
    top_k: int | None = None,
    progress: bool = False,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    scope: Scope | None = None,
) -> EvalRun:
    """Evaluate every question (searching inside ``scope`` only, when given); ``on_row`` sees each row as
    soon as it exists."""
    items = questions.questions
    bar = None
    if progress and items:
        from tqdm import tqdm

        bar = tqdm(total=len(items), desc="Questions", unit="q")
    rows = []
    try:
        for item in items:
            row = evaluate_question(assistant, item, top_k, scope)
            rows.append(row)
            if on_row is not None:
                on_row(row)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    summary = compute_metrics(rows)
    summary["skipped_lines"] = len(questions.errors)
    return EvalRun(rows, summary, run_config(assistant, top_k))


def run_config(assistant: Assistant, top_k: int | None) -> dict[str, Any]:
    manifest = assistant.manifest
    return {
        "embed_model": manifest.model_id,
        "embed_backend": assistant.settings.embed_backend,
        "chunk_size": manifest.chunk_size,
        "chunk_overlap": manifest.chunk_overlap,
        "top_k": top_k or assistant.settings.top_k,
        "retriever": assistant.retriever().name,
        "answer_mode": assistant.settings.answer_mode,
        "index_built_at": manifest.built_at,
        "index_documents": len(manifest.files),
        "index_chunks": sum(f.chunks for f in manifest.files.values()),
        "corpus_dir": str(assistant.settings.corpus_dir),
    }


def read_results(path: Path) -> list[dict[str, Any]]:
    """Rows of an earlier ``--out`` file (blank lines ignored)."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def compare_with(run: EvalRun, old_results: Path) -> dict[str, Any]:
    return compare_runs(run.rows, read_results(old_results))


# -- presentation ---------------------------------------------------------------
def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}" if value <= 1 else f"{value:.1f}"
    return str(value)


def summary_table(summary: dict[str, Any]) -> str:
    r, a, lat = summary["retrieval"], summary["abstention"], summary["latency_ms"]
    lines = [
        "| metric | value |",
        "|---|---|",
        f"| questions | {summary['n']} |",
        f"| retrieval hit@1 / hit@3 / hit@5 (n={r['n']}) | {_fmt(r['hit@1'])} / {_fmt(r['hit@3'])} / {_fmt(r['hit@5'])} |",
        f"| retrieval MRR@10 | {_fmt(r['mrr@10'])} |",
        f"| answer accuracy (n={summary['n_answerable']}) | {_fmt(summary['answer_accuracy'])} |",
        f"| answer overlaps the expected span (half its words or more) | {_fmt(summary.get('answer_overlap'))} |",
        f"| abstention precision / recall (unanswerable={a['n_unanswerable']}) | {_fmt(a['precision'])} / {_fmt(a['recall'])} |",
        f"| abstention rate | {_fmt(a['rate'])} |",
        f"| latency p50 / p95 (ms) | {_fmt(lat['p50'])} / {_fmt(lat['p95'])} |",
    ]
    if summary.get("skipped_lines"):
        lines.append(f"| skipped lines | {summary['skipped_lines']} |")
    return "\n".join(lines)


def compare_table(comparison: dict[str, Any]) -> str:
    lines = ["| metric | old | new | delta |", "|---|---|---|---|"]
    for key, d in comparison["metrics"].items():
        lines.append(f"| {key} | {_fmt(d['old'])} | {_fmt(d['new'])} | {d['delta']:+.4g} |")
    if comparison["changed"]:
        lines.append("")
        lines.append(f"Questions whose outcome changed ({len(comparison['changed'])}):")
        for item in comparison["changed"]:
            parts = ", ".join(f"{k}: {_fmt(v['old'])} -> {_fmt(v['new'])}" for k, v in item["changes"].items())
            lines.append(f"- {item['id']}: {item['question']} ({parts})")
    else:
        lines.append("")
        lines.append("No question changed outcome.")
    return "\n".join(lines)


def _failed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        r for r in rows
        if r.get("correct") is False or (r.get("expected_source") and r.get("source_rank") != 1)
    ]


def write_report(run: EvalRun, path: Path, source_file: Path, comparison: dict[str, Any] | None = None) -> Path:
    """Markdown report with the summary, the configuration and the failures,
    and a PNG chart of the metrics beside it. Returns the chart's path."""
    chart = path.with_suffix(".png")
    write_chart(run.summary, chart, title=source_file.name)
    lines = [
        f"# Evaluation of {source_file.name}",
        "",
        f"![metrics]({chart.name})",
        "",
        "## Summary",
        "",
        summary_table(run.summary),
        "",
        "## Configuration",
        "",
        "| setting | value |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in run.config.items()],
        "",
    ]
    if comparison is not None:
        lines += ["## Comparison with the earlier run", "", compare_table(comparison), ""]
    failed = _failed(run.rows)
    lines += [f"## Failed questions ({len(failed)})", ""]
    for row in failed:
        lines.append(f"### {row['id']}: {row['question']}")
        lines.append("")
        if row.get("history"):
            lines.append(f"- history: {' / '.join(row['history'])}")
        if row.get("expected"):
            lines.append(f"- expected: {', '.join(row['expected'][:3])}")
        if row.get("expected_source"):
            lines.append(f"- expected source: {row['expected_source']} (rank {_fmt(row.get('source_rank'))})")
        if row.get("unanswerable"):
            lines.append("- unanswerable: the right behaviour is to abstain")
        answer = " ".join(str(row.get("answer", "")).split())
        lines.append(f"- answered ({'abstained' if row.get('abstained') else 'answered'}): {answer[:400]}")
        cited = ", ".join(f"[{c['n']}] {place(c['source'], c.get('page'), c.get('section'), ocr=c.get('ocr', False))}"
                          for c in row.get("citations", []))
        lines.append(f"- cited: {cited or 'nothing'}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return chart


def write_chart(summary: dict[str, Any], path: Path, title: str = "") -> None:
    """Bar chart of the quality metrics (0..1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r, a = summary["retrieval"], summary["abstention"]
    items = [
        ("hit@1", r["hit@1"]), ("hit@3", r["hit@3"]), ("hit@5", r["hit@5"]), ("MRR@10", r["mrr@10"]),
        ("answer acc.", summary["answer_accuracy"]),
        ("abst. precision", a["precision"]), ("abst. recall", a["recall"]),
    ]
    labels = [name for name, _ in items]
    values = [0.0 if v is None else float(v) for _, v in items]
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)
    bars = ax.bar(labels, values, color=["#1f5fa8"] * 4 + ["#2a9d55"] + ["#c77c12"] * 2)
    for bar, (_, value) in zip(bars, items):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.02,
                "n/a" if value is None else f"{value:.2f}", ha="center", fontsize=9)
    ax.set_ylim(0, 1.12)
    ax.set_title(f"{title} (n={summary['n']})")
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
