"""The word lists are data: files per language, read once into an object nobody can change,
every list used by the code, none left in code."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from hdf_assistant.analysis import LANGUAGES, detect_language, lexicon
from hdf_assistant.ingest.chunking import split_sentences

SRC = Path(__file__).resolve().parents[1] / "src" / "hdf_assistant"


def _files() -> dict[str, dict]:
    folder = resources.files("hdf_assistant.data").joinpath("lexicon")
    return {lang: tomllib.loads(folder.joinpath(f"{lang}.toml").read_text(encoding="utf-8")) for lang in LANGUAGES}


def test_each_list_is_the_union_of_the_languages_files_and_cannot_be_changed() -> None:
    files = _files()
    words = lexicon()
    assert words is lexicon()  # read once
    for name in set().union(*(f["words"] for f in files.values())):
        assert words.words(name) == frozenset().union(*(f["words"].get(name, []) for f in files.values()))
    assert words.words("language_markers", "en") >= {"the", "what"}
    assert "le" in words.words("language_markers", "fr") and "le" not in words.words("language_markers", "en")
    assert words.concepts["employees"] == "salariés"
    with pytest.raises(TypeError):
        words.concepts["gdp"] = "chômage"  # type: ignore[index]
    with pytest.raises(AttributeError):
        words.words("stopwords").add("lille")  # type: ignore[attr-defined]


def test_no_word_is_listed_twice_in_one_file() -> None:
    for lang, data in _files().items():
        for name, listed in data["words"].items():
            assert len(listed) == len(set(listed)), f"{lang}.toml {name}: {sorted(w for w in listed if listed.count(w) > 1)}"


def test_every_list_is_used_and_no_list_is_left_in_code() -> None:
    code = "\n".join(p.read_text(encoding="utf-8") for p in SRC.rglob("*.py"))
    names = set().union(*(f["words"] for f in _files().values()))
    unused = [n for n in names if f'words("{n}"' not in code]
    assert not unused, f"lists nobody reads: {unused}"
    # a set of five or more quoted words written in a module is a word list that belongs in the data files
    literal = re.compile(r'^[A-Z_]+\s*(?::[^=]+)?=\s*\{\s*(?:"[^"\n]+",\s*){5,}', re.M)
    left = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if literal.search(p.read_text(encoding="utf-8"))]
    assert not left, f"word lists in code: {left}"


def test_the_lists_in_data_drive_the_behaviour() -> None:
    """The abbreviations keep "M. Dupont" in one sentence; the markers tell the language."""
    text = "M. Dupont dirige le pôle. Il a 40 ans."
    assert len(split_sentences(text)) == 2
    assert detect_language("How many startups are there in Lille?") == "en"
    assert detect_language("Combien de startups y a-t-il à Lille ?") == "fr"
