"""The command line as a user runs it: the installed console script, a
subprocess, the bundled corpus."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BUNDLED_CORPUS, clean_env

PANORAMA = "panorama_numerique_hauts_de_france.txt"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hdf_assistant", *args],
        capture_output=True, text=True, env=clean_env(), cwd=cwd, timeout=600,
    )


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bundled") / "index"


@pytest.mark.model
def test_ask_builds_the_index_then_cites_1791_in_english(index_dir: Path) -> None:
    result = run("--corpus", str(BUNDLED_CORPUS), "--index-dir", str(index_dir),
                 "ask", "How many startups in Lille?", "--json")
    assert result.returncode == 0, result.stderr
    assert "construction de l'index" in result.stderr
    out = json.loads(result.stdout)
    assert set(out) >= {"question", "answer", "abstained", "citations", "timings_ms"}
    first = out["citations"][0]
    assert first["source"] == PANORAMA and first["page"] is None
    assert "1791" in first["text"] and first["n"] == 1
    assert set(first) >= {"n", "source", "page", "text", "score"}
    assert out["abstained"] is False


@pytest.mark.model
def test_ask_in_french_uses_the_existing_index(index_dir: Path) -> None:
    result = run("--corpus", str(BUNDLED_CORPUS), "--index-dir", str(index_dir),
                 "ask", "Combien de startups sont référencées à Lille ?", "--json")
    assert result.returncode == 0, result.stderr
    assert "construction" not in result.stderr
    first = json.loads(result.stdout)["citations"][0]
    assert first["source"] == PANORAMA and "1791" in first["text"]


@pytest.mark.model
def test_index_json_reports_unchanged_files(index_dir: Path) -> None:
    result = run("--corpus", str(BUNDLED_CORPUS), "--index-dir", str(index_dir), "index", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) >= {"documents", "chunks", "added", "updated", "removed", "unchanged", "skipped", "seconds"}
    assert out["unchanged"] == [PANORAMA] and out["added"] == [] and out["documents"] == 1
    assert out["embedded_chunks"] == 0 and out["renamed"] == []


def test_empty_question_exits_non_zero_with_a_message(index_dir: Path) -> None:
    result = run("--index-dir", str(index_dir), "ask", "   ")
    assert result.returncode == 2
    assert "vide" in result.stderr and "Traceback" not in result.stderr


def test_missing_corpus_is_one_clear_line(tmp_path: Path) -> None:
    result = run("--corpus", str(tmp_path / "nope"), "--index-dir", str(tmp_path / "i"), "index")
    assert result.returncode == 1
    assert "corpus directory not found" in result.stderr and "Traceback" not in result.stderr
