"""The index directory as a contract: a corrupt, foreign or incompatible
manifest is one clear line naming the fix; an index in the previous format
is read and upgraded without embedding anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_embedder import FakeEmbedder

from hdf_assistant.assistant import build_assistant, open_backend, refresh_index
from hdf_assistant.cli import main
from hdf_assistant.errors import IndexCorruptError, IndexMismatchError
from hdf_assistant.index.manifest import parse_manifest
from hdf_assistant.index.state import current_state_dir


@pytest.fixture()
def built(settings, corpus, fake_embedder):
    (corpus / "ovh.txt").write_text("OVH a été créé en 1999 à Roubaix. Il emploie 1000 salariés.", encoding="utf-8")
    (corpus / "isagri.txt").write_text("Isagri édite des logiciels agricoles à Beauvais.", encoding="utf-8")
    refresh_index(settings, lambda: fake_embedder)
    return settings


def manifest_path(settings) -> Path:
    return current_state_dir(settings.index_dir) / "manifest.json"


def cli(settings, *args: str) -> list[str]:
    return ["--corpus", str(settings.corpus_dir), "--index-dir", str(settings.index_dir), *args]


def one_line_error(capsys, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(("content", "expected"), [
    ('{"embed_model": "multilingual-e5', r"manifest.json is not valid JSON"),
    ('{"name": "another-tool", "version": 3}', r"not an hdf-assistant manifest \(unknown key name; unknown key version"),
    ("[1, 2, 3]", r"not an hdf-assistant manifest \(not a JSON object\)"),
])
def test_corrupt_or_foreign_manifest_is_one_line_with_the_fix(built, capsys, content: str, expected: str) -> None:
    manifest_path(built).write_text(content, encoding="utf-8")
    with pytest.raises(IndexCorruptError, match=expected + r".*rebuild the index with: hdf-assistant index --full"):
        open_backend(built).open()
    for command in (["ask", "Qui a créé OVH ?"], ["index"]):
        err = one_line_error(capsys, cli(built, *command))
        assert "hdf-assistant index --full" in err and "manifest.json" in err
    # the command it names repairs the index
    report = refresh_index(built, FakeEmbedder, full=True)
    assert report.added == ["isagri.txt", "ovh.txt"] and open_backend(built).read_manifest() is not None


def test_unknown_and_missing_keys_are_named(built) -> None:
    data = json.loads(manifest_path(built).read_text(encoding="utf-8"))
    data["colour"] = "blue"
    del data["dim"]
    with pytest.raises(IndexCorruptError, match="unknown key colour; missing key dim"):
        parse_manifest(json.dumps(data), "m.json")
    data = json.loads(manifest_path(built).read_text(encoding="utf-8"))
    data["files"]["ovh.txt"]["pages"] = "one"
    with pytest.raises(IndexCorruptError, match=r"bad value for files\.ovh\.txt\.pages"):
        parse_manifest(json.dumps(data), "m.json")
    data["files"]["ovh.txt"]["pages"] = 1
    data["format_version"] = 9
    with pytest.raises(IndexMismatchError, match="index format 9.*hdf-assistant index --full"):
        parse_manifest(json.dumps(data), "m.json")


@pytest.mark.parametrize(("variable", "value", "setting"), [
    ("HDF_PASSAGE_PREFIX", "document: ", "passage_prefix"),
    ("HDF_QUERY_PREFIX", "question: ", "query_prefix"),
    ("HDF_CHUNK_OVERLAP", "0", "chunk_overlap"),
])
def test_a_setting_that_changes_vectors_is_refused_before_loading_the_model(
    built, capsys, monkeypatch, variable: str, value: str, setting: str
) -> None:
    monkeypatch.setenv(variable, value)
    # the fast tier forbids loading the model: these errors come first
    for command in (["ask", "Qui a créé OVH ?"], ["index"]):
        err = one_line_error(capsys, cli(built, *command))
        assert setting in err and variable in err and "rebuild it with: hdf-assistant index --full" in err


def test_changed_prefix_through_the_api_names_both_values(built, fake_embedder) -> None:
    other = built.replace(passage_prefix="doc: ")
    with pytest.raises(IndexMismatchError, match=r"passage_prefix='passage: ' but .* passage_prefix='doc: '"):
        build_assistant(other, embedder=fake_embedder)


def test_an_index_of_the_previous_version_is_refused_with_the_fix(built, capsys) -> None:
    """Version 1 indexes (a llama-index docstore, sentences cut by splitter 2) are rebuilt, not mixed."""
    path = manifest_path(built)
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(format_version=1, splitter_version=2)
    path.write_text(json.dumps(data), encoding="utf-8")
    err = one_line_error(capsys, cli(built, "ask", "Qui a créé OVH ?"))
    assert "index format 1" in err and "rebuild it with: hdf-assistant index --full" in err
    data["format_version"] = 2
    path.write_text(json.dumps(data), encoding="utf-8")
    err = one_line_error(capsys, cli(built, "index"))
    assert "splitter_version=2" in err and "splitter_version=3" in err and "index --full" in err


def test_a_manifest_never_changes_once_made(built, corpus, fake_embedder) -> None:
    """A refresh writes the next version's manifest; the one a reader holds stays as it was."""
    from pydantic import ValidationError

    held = open_backend(built).open().manifest
    assert sorted(held.files) == ["isagri.txt", "ovh.txt"]
    with pytest.raises(ValidationError):
        held.chunk_size = 100  # type: ignore[misc]
    (corpus / "lille.txt").write_text("Lille compte 1791 startups.", encoding="utf-8")
    (corpus / "isagri.txt").unlink()
    refresh_index(built, lambda: fake_embedder)
    assert sorted(held.files) == ["isagri.txt", "ovh.txt"] and held.skipped == {}
    assert sorted(open_backend(built).open().manifest.files) == ["lille.txt", "ovh.txt"]
