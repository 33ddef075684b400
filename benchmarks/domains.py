"""Leave-theme-out evaluation: false refusals and wrong answers on documents nobody tuned on.

    python benchmarks/domains.py                          # held-out themes (the report)
    python benchmarks/domains.py --split development      # development themes (for tuning)
    python benchmarks/domains.py --split all --out rows.json --no-model

The 3,589 Service-Public files of ``../shared/benchmarks/piaf-spf/service_public_fiches_txt_v2.zip`` are split
by theme (``questions/themes/themes.json``: 419 fiches, themes assigned by hand). Each theme is its own corpus,
as a user who loads their own documents would have it, indexed once into the evaluation cache
(``eval_cache_dir/spf-themes-<zip hash>/<theme>/``; a second run embeds nothing). Its questions
(``questions/themes/<theme>.jsonl``) are asked the way ``hdf-assistant ask`` does. An answerable question is
*refused* when the assistant abstains, *wrong* when it answers without any of the expected spans, *right*
otherwise; an unanswerable one is *answered* when the assistant does not abstain.

Only the public API is used (``load_settings``, ``build_embedder``, ``refresh_index``, ``build_assistant``),
so an older version of the package can be measured with the same script and the same questions:
``PYTHONPATH=/path/to/old/src python benchmarks/domains.py``.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
THEMES = HERE / "questions" / "themes"
ZIP = ROOT.parent / "shared" / "benchmarks" / "piaf-spf" / "service_public_fiches_txt_v2.zip"


def theme_map() -> dict[str, Any]:
    return json.loads((THEMES / "themes.json").read_text(encoding="utf-8"))


def split_themes(split: str) -> list[str]:
    data = theme_map()
    if split == "all":
        return data["development"] + data["held_out"]
    return list(data[split])


def write_corpus(zip_path: Path, theme: str, target: Path) -> int:
    """The theme's fiches as text files in ``target`` (written once); returns the number of files."""
    fiches = set(theme_map()["themes"][theme]["fiches"])
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    with zipfile.ZipFile(zip_path) as archive:
        for name in archive.namelist():
            base = name.rsplit("/", 1)[-1]
            if not base.endswith(".txt") or base.split("_", 1)[0] not in fiches:
                continue
            count += 1
            path = target / base
            if not path.is_file():
                path.write_bytes(archive.read(name))
    return count


def _workspace(settings: Any, zip_path: Path, theme: str) -> Any:
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()[:12]
    key = f"{settings.embed_model}|{settings.chunk_size}|{settings.chunk_overlap}|{settings.embed_backend}"
    root = Path(settings.eval_cache_dir) / f"spf-themes-{digest}" / theme
    write_corpus(zip_path, theme, root / "corpus")
    index = root / f"index-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    return settings.replace(corpus_dir=root / "corpus", index_dir=index, index_name=f"theme_{theme}")


def load_questions(theme: str) -> list[dict[str, Any]]:
    path = THEMES / f"{theme}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def source_rank(sources: list[str], pattern: str | None) -> int | None:
    """1-based rank of the first retrieved passage whose file matches ``pattern`` ("F1214_*")."""
    if not pattern:
        return None
    seen: list[str] = []
    for source in sources:
        if source not in seen:
            seen.append(source)
        if fnmatch.fnmatch(Path(source).name, pattern):
            return len(seen)
    return None


def fiche_rank(sources: list[str], pattern: str | None) -> int | None:
    """Rank of the expected fiche among the distinct fiches retrieved (all its files count as one)."""
    if not pattern:
        return None
    fiches: list[str] = []
    for source in sources:
        fiche = Path(source).name.split("_", 1)[0]
        if fiche not in fiches:
            fiches.append(fiche)
        if fnmatch.fnmatch(Path(source).name, pattern):
            return len(fiches)
    return None


def answerer(embedder: Any, no_model: bool, answer_params: dict[str, Any] | None) -> Any:
    """The extractive answerer with the learned check off (``no_model``: every signal recorded) or other
    settings (``--params``); None for the shipped one."""
    if not no_model and not answer_params:
        return None
    from dataclasses import replace

    from hdf_assistant.answer import AbstentionModel, AnswerParams, ExtractiveAnswerer

    model = AbstentionModel({}, 30.0, 0.5) if no_model else None
    return ExtractiveAnswerer(embedder, params=replace(AnswerParams(), **(answer_params or {})), model=model)


def collect(themes: list[str], zip_path: Path, no_model: bool = False, progress: bool = True,
            answer_params: dict[str, Any] | None = None, cache: Path | None = None) -> list[dict[str, Any]]:
    """Ask every question of ``themes`` over its theme's corpus; one row per question
    (``answer_params``: answer settings other than the defaults, to compare them)."""
    from hdf_assistant.assistant import build_assistant, build_embedder, refresh_index
    from hdf_assistant.config import load_settings
    from hdf_assistant.evaluate.metrics import answer_matches

    base = load_settings(env={}, progress=False)
    if cache is not None:
        base = base.replace(eval_cache_dir=cache)
    embedder = build_embedder(base)
    rows = []
    for theme in themes:
        settings = _workspace(base, zip_path, theme)
        started = time.perf_counter()
        report = refresh_index(settings, lambda: embedder, progress=progress)
        if progress:
            print(f"{theme}: {report.documents} files, {report.chunks} passages "
                  f"({report.embedded_chunks} embedded, {time.perf_counter() - started:.1f} s)", file=sys.stderr)
        custom = answerer(embedder, no_model, answer_params)
        # an older version (PYTHONPATH) is measured as it answers by default: build_assistant as it was then
        assistant = (build_assistant(settings, embedder=embedder) if custom is None
                     else build_assistant(settings, embedder=embedder, answerer=custom))
        for q in load_questions(theme):
            answer = assistant.ask(q["question"], history=q.get("history", []))
            sources = [r.chunk.source for r in answer.retrieved]
            unanswerable = bool(q.get("unanswerable"))
            rows.append({
                "theme": theme, "id": q["id"], "question": q["question"], "unanswerable": unanswerable,
                "expected": q.get("expected", []), "expected_source": q.get("expected_source"),
                "abstained": answer.abstained, "rule": answer.abstain_reason,
                "correct": (not answer.abstained) and bool(q.get("expected"))
                and answer_matches(answer.text, q["expected"]),
                "source_rank": source_rank(sources, q.get("expected_source")),
                "fiche_rank": fiche_rank(sources, q.get("expected_source")),
                "signals": answer.signals, "short_answer": answer.short_answer, "answer": answer.text[:400],
                "ms": round(answer.timings_ms.get("total", 0.0), 1),
            })
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if not r["unanswerable"]]
    unanswerable = [r for r in rows if r["unanswerable"]]
    refused = sum(r["abstained"] for r in answerable)
    right = sum(bool(r["correct"]) for r in answerable)
    ranked = [r["fiche_rank"] for r in answerable if r.get("expected_source")]

    def share(n: int, d: int) -> float | None:
        return round(n / d, 4) if d else None

    return {
        "answerable": len(answerable), "refused": refused, "refused_rate": share(refused, len(answerable)),
        "wrong": len(answerable) - refused - right, "wrong_rate": share(len(answerable) - refused - right,
                                                                         len(answerable)),
        "right": right, "right_rate": share(right, len(answerable)),
        "unanswerable": len(unanswerable), "answered": sum(not r["abstained"] for r in unanswerable),
        "answered_rate": share(sum(not r["abstained"] for r in unanswerable), len(unanswerable)),
        "fiche_first": share(sum(1 for x in ranked if x == 1), len(ranked)),
        "fiche_top5": share(sum(1 for x in ranked if x is not None and x <= 5), len(ranked)),
    }


def table(rows: list[dict[str, Any]], themes: list[str]) -> str:
    lines = ["| theme | answerable refused | answerable wrong | answerable right | unanswerable answered | "
             "right fiche first / top 5 |", "|---|---|---|---|---|---|"]
    for name, part in [(t, [r for r in rows if r["theme"] == t]) for t in themes] + [("all", rows)]:
        s = summarise(part)
        lines.append(
            f"| {name} | {s['refused']}/{s['answerable']} ({100 * (s['refused_rate'] or 0):.1f} %) | "
            f"{s['wrong']}/{s['answerable']} ({100 * (s['wrong_rate'] or 0):.1f} %) | {s['right']}/{s['answerable']} | "
            f"{s['answered']}/{s['unanswerable']} ({100 * (s['answered_rate'] or 0):.1f} %) | "
            f"{s['fiche_first']} / {s['fiche_top5']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["held_out", "development", "all"], default="held_out")
    parser.add_argument("--themes", help="comma-separated themes instead of a split")
    parser.add_argument("--zip", type=Path, default=ZIP, help="the Service-Public fiches zip")
    parser.add_argument("--out", type=Path, help="write every row (question, answer, signals) to this JSON file")
    parser.add_argument("--no-model", action="store_true",
                        help="turn the learned abstention model off (the rules stay): to collect training signals")
    parser.add_argument("--show", action="store_true", help="print the refused answerable and answered unanswerable")
    parser.add_argument("--cache", type=Path, help="where the themes' corpora and indexes live (default: the "
                                                    "evaluation cache); another one for another version")
    parser.add_argument("--params", type=json.loads, help="answer settings to try, as JSON: '{\"alternatives\": 2}'")
    args = parser.parse_args()
    themes = args.themes.split(",") if args.themes else split_themes(args.split)
    rows = collect(themes, args.zip, no_model=args.no_model, answer_params=args.params, cache=args.cache)
    if args.out:
        args.out.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    print(table(rows, themes))
    if args.show:
        for r in rows:
            if r["abstained"] != r["unanswerable"] or (not r["unanswerable"] and not r["correct"]):
                what = "REFUSED" if r["abstained"] else "ANSWERED" if r["unanswerable"] else "WRONG"
                print(f"\n{what} {r['id']} {r['question']}\n  rule: {r['rule']}  fiche rank: {r['fiche_rank']}"
                      f"\n  {r['answer'][:240]}")


if __name__ == "__main__":
    main()
