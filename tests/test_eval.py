"""Batch evaluation: question files, SQuAD corpora, reports and comparisons."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import clean_env

from hdf_assistant.assistant import build_assistant, refresh_index
from hdf_assistant.evaluate.questions import load_question_set
from hdf_assistant.evaluate.run import run_eval, squad_workspace


def test_jsonl_with_a_malformed_line_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"id": "a", "question": "Combien de startups ?", "expected": ["1791"], "expected_source": "p.txt"}\n'
        "{not json}\n"
        '{"question": "", "expected": ["x"]}\n'
        "\n"
        '{"question": "Et combien de salariés ?", "history": ["Parle-moi d\'OVH"], "unanswerable": false}\n'
        '{"question": "Population d\'Amiens ?", "unanswerable": true}\n',
        encoding="utf-8",
    )
    qs = load_question_set(path)
    assert [q.id for q in qs.questions] == ["a", "q5", "q6"]
    assert [(e.line, e.message) for e in qs.errors] == [
        (2, "invalid JSON (Expecting property name enclosed in double quotes)"),
        (3, "missing or empty 'question'"),
    ]
    a, b, c = qs.questions
    assert a.expected == ("1791",) and a.expected_source == "p.txt"
    assert b.history == ("Parle-moi d'OVH",) and not b.unanswerable
    assert c.unanswerable and c.expected == ()


def test_csv_with_json_list_cells_and_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(
        "id,question,history,expected,expected_source,unanswerable\n"
        'c1,Combien de startups ?,,"[""1791"", ""1 791""]",panorama.txt,\n'
        'c2,Et à Roubaix ?,"[""Parle-moi d\'OVH""]",OVH,,false\n'
        "c3,Une question,[pas du json,,,\n"
        "c4,Qui préside ?,,,,oui\n",
        encoding="utf-8",
    )
    qs = load_question_set(path)
    assert [q.id for q in qs.questions] == ["c1", "c2", "c4"]
    assert qs.questions[0].expected == ("1791", "1 791")
    assert qs.questions[1].history == ("Parle-moi d'OVH",) and qs.questions[1].expected == ("OVH",)
    assert qs.questions[2].unanswerable
    assert len(qs.errors) == 1 and qs.errors[0].line == 4 and "history" in qs.errors[0].message


SQUAD = {
    "version": "test",
    "data": [
        {"title": "F1", "paragraphs": [{"context": "OVH a été créé en 1999 à Roubaix. Il héberge un grand datacentre.",
                                        "qas": [{"id": "s1", "question": "Où OVH a-t-il été créé ?",
                                                 "answers": [{"answer_start": 26, "text": "Roubaix"}]}]}]},
        {"title": "F2", "paragraphs": [{"context": "La métropole lilloise compte 1791 startups référencées sur Alloweb.",
                                        "qas": [{"id": "s2", "question": "Combien de startups à Lille ?",
                                                 "answers": [{"answer_start": 29, "text": "1791"}]}]}]},
        {"title": "F3", "paragraphs": [{"context": "Isagri édite des logiciels agricoles à Beauvais.", "qas": []}]},
    ],
}


def test_squad_is_detected_and_indexed_once_in_a_cache(tmp_path: Path, settings, e5_embedder) -> None:
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    qs = load_question_set(path)
    assert qs.kind == "squad" and sorted(qs.articles) == ["F1.txt", "F2.txt", "F3.txt"]
    assert [(q.expected_source, q.expected) for q in qs.questions] == [("F1.txt", ("Roubaix",)), ("F2.txt", ("1791",))]

    settings = settings.replace(eval_cache_dir=tmp_path / "evalcache")
    ws = squad_workspace(settings, path, qs)
    assert ws.corpus_dir.is_relative_to(tmp_path / "evalcache") and ws.index_dir != settings.index_dir
    first = refresh_index(ws, lambda: e5_embedder)
    assert first.added == ["F1.txt", "F2.txt", "F3.txt"]

    run = run_eval(build_assistant(ws, embedder=e5_embedder), qs)
    assert [r["source_rank"] for r in run.rows] == [1, 1]
    assert run.summary["retrieval"]["hit@1"] == 1.0
    assert all(r["correct"] for r in run.rows)

    def no_model():
        raise AssertionError("an unchanged SQuAD file must not be re-embedded")

    again = refresh_index(squad_workspace(settings, path, qs), no_model)
    assert again.unchanged == ["F1.txt", "F2.txt", "F3.txt"] and again.added == []


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = clean_env(HDF_EVAL_CACHE=str(cwd / "evalcache"))
    return subprocess.run([sys.executable, "-m", "hdf_assistant", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=900)


@pytest.mark.model
def test_eval_command_writes_results_report_chart_and_compares(tmp_path: Path) -> None:
    from conftest import BUNDLED_CORPUS

    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"id": "d01", "question": "How many startups in Lille?", "expected": ["1 791"], '
        '"expected_source": "panorama_numerique_hauts_de_france.txt"}\n'
        "oops\n"
        '{"id": "d02", "question": "Où OVH a-t-il été créé ?", "expected": ["Roubaix"]}\n',
        encoding="utf-8",
    )
    common = ("--corpus", str(BUNDLED_CORPUS), "--index-dir", str(tmp_path / "index"))
    first = run_cli(*common, "eval", str(questions), "--out", "r1.jsonl", "--report", "report.md", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "line 2: invalid JSON" in first.stderr
    assert "| retrieval hit@1 / hit@3 / hit@5 (n=1) | 1.000 / 1.000 / 1.000 |" in first.stdout
    rows = [json.loads(line) for line in (tmp_path / "r1.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["d01", "d02"]
    assert set(rows[0]) >= {"question", "answer", "abstained", "citations", "timings_ms", "id", "expected",
                            "expected_source", "unanswerable", "history", "correct", "source_rank"}
    assert rows[0]["correct"] is True and rows[0]["source_rank"] == 1 and "1791" in rows[0]["answer"]
    report = (tmp_path / "report.md").read_text()
    assert "## Configuration" in report and "multilingual-e5-small" in report
    png = (tmp_path / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000

    # an older run where d01 was wrong: the comparison shows the change
    old = dict(rows[0], correct=False, source_rank=3)
    (tmp_path / "old.jsonl").write_text(json.dumps(old) + "\n" + json.dumps(rows[1]) + "\n")
    second = run_cli(*common, "eval", str(questions), "--json", "--compare", "old.jsonl", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert summary["n"] == 2 and summary["skipped_lines"] == 1
    assert summary["compare"]["metrics"]["retrieval.hit@1"] == {"old": 0.0, "new": 1.0, "delta": 1.0}
    changed = summary["compare"]["changed"]
    assert [c["id"] for c in changed] == ["d01"]
    assert changed[0]["changes"]["source_rank"] == {"old": 3, "new": 1}


def test_missing_question_file_is_one_line(tmp_path: Path) -> None:
    result = run_cli("eval", "nope.jsonl", cwd=tmp_path)
    assert result.returncode == 1 and "question file not found" in result.stderr


@pytest.mark.skipif(not Path(__file__).resolve().parents[2].joinpath("shared").is_dir(), reason="no shared/")
def test_dev_questions_file_parses_fully() -> None:
    path = Path(__file__).resolve().parents[2] / "shared" / "seed" / "dev_questions.jsonl"
    qs = load_question_set(path)
    assert len(qs.questions) == 12 and qs.errors == []
    assert sum(q.unanswerable for q in qs.questions) == 2
