"""French analyser for the keyword index.

Text -> terms: Unicode compatibility forms, lower case, numbers kept whole
("1 791", "1,791" and "1791" give the same term; "2,7" and "2.7" give
"2.7"), elisions split off ("l'économie" -> "economie"), accents folded,
French stopwords dropped, Snowball French stemming. Hyphenated words give
their parts and the joined form ("e-santé" -> "sante", "esante"). For a
question in English, English stopwords are dropped too and English stems
are added, since English questions mostly reach French text through the
dense side.

The original text is never changed: terms are only used for matching.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

#: Bump when what :func:`analyze` returns for a text changes: the manifest
#: records it, and the terms stored in an index must then be made again.
ANALYZER_VERSION = 1

_ELISION = re.compile(r"\b(?:l|d|qu|j|n|s|c|m|t|jusqu|lorsqu|puisqu|quoiqu)['’`](?=\w)", re.IGNORECASE)
# thousands separators inside a number: "1 791", "15 000", "1.791", "1,791", "1 234 567"
_THOUSANDS = re.compile(r"(?<=\d)[ \u00a0\u202f.,'’](?=\d{3}(?!\d))")
_DECIMAL = re.compile(r"(?<=\d),(?=\d)")
_TOKEN = re.compile(r"\d+(?:\.\d+)*|[^\W\d_]+(?:-[^\W\d_]+)*", re.UNICODE)

LANGUAGES = ("fr", "en")


@dataclass(frozen=True)
class Lexicon:
    """Every word list the project reads questions and texts with, per language, as the files
    ``data/lexicon/<language>.toml`` hold them (data, not code: a list is corrected or extended there)."""

    #: language -> list name -> words
    by_language: Mapping[str, Mapping[str, frozenset[str]]]
    #: English word -> the French word for the same thing ("employees" -> "salariés")
    concepts: Mapping[str, str]

    def words(self, name: str, language: str | None = None) -> frozenset[str]:
        """The list ``name`` of one language, or of every language together (``language`` None)."""
        if language is not None:
            return self.by_language[language].get(name, frozenset())
        return frozenset().union(*(lists.get(name, frozenset()) for lists in self.by_language.values()))


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The word lists, read once per process."""
    import tomllib
    from importlib import resources
    from types import MappingProxyType

    folder = resources.files("hdf_assistant.data").joinpath("lexicon")
    by_language: dict[str, Mapping[str, frozenset[str]]] = {}
    concepts: dict[str, str] = {}
    for language in LANGUAGES:
        data = tomllib.loads(folder.joinpath(f"{language}.toml").read_text(encoding="utf-8"))
        by_language[language] = MappingProxyType({k: frozenset(v) for k, v in data.get("words", {}).items()})
        concepts.update(data.get("concepts", {}))
    return Lexicon(MappingProxyType(by_language), MappingProxyType(concepts))


_ANSWER_THOUSANDS = re.compile(r"(?<=\d)[\s\u00a0\u202f.,'’](?=\d{3}(?!\d))")
_SPACES = re.compile(r"\s+")


def normalize_answer(text: str) -> str:
    """Lower case, one space between words, same apostrophes, thousands
    separators removed ("1 791", "1,791" and "1.791" all become "1791";
    "2,7" stays "2,7")."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'").replace("`", "'")
    text = _SPACES.sub(" ", text).strip()
    previous = None
    while previous != text:  # "1 234 567" needs two passes
        previous = text
        text = _ANSWER_THOUSANDS.sub("", text)
    return text


def fold(text: str) -> str:
    """Remove accents: "économie" -> "economie" (œ and æ spelled out)."""
    text = text.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae").replace("Æ", "AE")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    try:
        from bm25s.stopwords import STOPWORDS_FRENCH

        words = set(STOPWORDS_FRENCH)
    except ImportError:  # pragma: no cover - declared dependency
        words = set()
    return frozenset(fold(w) for w in words | lexicon().words("stopwords", "fr"))


@lru_cache(maxsize=2)
def _stemmer(language: str) -> Any:
    import Stemmer

    return Stemmer.Stemmer(language)


def normalize_numbers(text: str) -> str:
    """Join thousands groups and use a decimal point: "1 791,5" -> "1791.5"."""
    previous = None
    while previous != text:
        previous = text
        text = _THOUSANDS.sub("", text)
    return _DECIMAL.sub(".", text)


def detect_language(text: str) -> str:
    """"en" or "fr", from function words (French when unsure)."""
    words = re.findall(r"[a-zà-ÿ]+", text.lower())
    markers = lexicon()
    english = sum(w in markers.words("language_markers", "en") for w in words)
    french = sum(w in markers.words("language_markers", "fr") for w in words)
    return "en" if english > french else "fr"


def _raw_terms(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    text = _ELISION.sub(" ", text)
    text = normalize_numbers(text)
    text = fold(text)
    terms: list[str] = []
    for token in _TOKEN.findall(text):
        if "-" in token:
            parts = [p for p in token.split("-") if p]
            terms.extend(parts)
            terms.append("".join(parts))
        else:
            terms.append(token)
    return terms


def analyze(text: str, language: str = "fr") -> list[str]:
    """Terms of ``text`` for the keyword index (documents are French)."""
    stop = _stopwords()
    words = [t for t in _raw_terms(text) if t not in stop and (len(t) > 1 or t.isdigit())]
    if language == "en":
        english = lexicon().words("stopwords", "en")
        words = [w for w in words if w not in english]
    numbers = [w for w in words if w[0].isdigit()]
    letters = [w for w in words if not w[0].isdigit()]
    stems = _stemmer("french").stemWords(letters)
    if language == "en":
        stems = stems + [s for s in _stemmer("english").stemWords(letters) if s not in stems]
    return stems + numbers


def analyze_query(question: str) -> list[str]:
    """Terms of a question, in French or English."""
    return analyze(question, detect_language(question))
