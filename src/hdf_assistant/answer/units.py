"""What value a number question wants, and whether a sentence gives one.

"Combien coûte ..." wants money, "Combien de temps ..." a duration, "À quel
âge ..." an age, "Quel est le taux ..." a share; "Combien de salariés ..." /
"How many employees ..." a count *of employees*: "1791 startups" is a count
of something else. Units are plain French and English, not a corpus's words.
"""

from __future__ import annotations

import re

from hdf_assistant.analysis import analyze, fold, lexicon
from hdf_assistant.answer.lexicon import DURATION_NOUNS, ENGLISH_CONCEPTS, NUMBER, UNIT_VALUES, UNITS, YEAR

_COUNT = re.compile(r"\b(?:combien\s+(?:de\s+|d['’]\s*)|how\s+many\s+)([^\W\d_][\w\-]*)")
_BETWEEN = lexicon().words("count_fillers")


_AMOUNT = re.compile(r"\s?(?:€|%|euros?\b|k€|M€|Md€)")
_ANYONE = lexicon().words("anyone")
#: one pattern for every place noun of the word lists (a sentence is checked once, not once per noun)
_PLACE_NOUN = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(lexicon().words("place_nouns"), key=len, reverse=True)))
                         + r")s?\b")


def question_unit(question: str) -> str | None:
    """"money", "duration", "age", "percent", or None (any number, or not a number question)."""
    text = fold(question.lower()).replace("’", "'")
    count = _COUNT.search(question.lower())
    if count and fold(count.group(1)) in DURATION_NOUNS:
        return "duration"
    for unit, pattern in UNITS:
        if pattern.search(text):
            return unit
    return None


def counted_terms(question: str) -> tuple[str, ...]:
    """Terms of what "combien de X" / "how many X" counts (English X in French, from the glossary)."""
    match = _COUNT.search(question.lower())
    if match is None or fold(match.group(1)) in DURATION_NOUNS or match.group(1) == "temps":
        return ()
    word = match.group(1)
    if fold(word) in _ANYONE:
        return ()
    french = ENGLISH_CONCEPTS.get(word)
    return tuple(analyze(french if french else word))


def mentions_place_noun(text: str) -> bool:
    """``text`` names a place by what it is ("à la mairie", "en préfecture", "at the town hall")."""
    return bool(_PLACE_NOUN.search(fold(text.lower())))


def gives_unit(unit: str, text: str) -> bool:
    """``text`` holds a value of ``unit``."""
    return bool(UNIT_VALUES[unit].search(fold(text.lower())))


def _noun_after(text: str, end: int) -> str | None:
    """The word a number at ``end`` counts ("1000 salariés" -> "salariés"), or None; never past a
    table cell ("Formations: 58 | Apprenants: 1 380": 58 counts nothing said after it)."""
    following = re.split(r"[|;:\n]", text[end:end + 40], maxsplit=1)[0]
    for word in re.findall(r"[\w\-]+", following)[:3]:
        folded = fold(word.lower())
        if folded in _BETWEEN or folded.isdigit():
            continue
        return word if word[0].isalpha() else None
    return None


def counts(text: str, counted: tuple[str, ...], given: tuple[str, ...] = ()) -> list[tuple[str, int, bool | None]]:
    """Each number of ``text`` (not one the question gives) with its position and whether its noun is
    the thing counted (None when it has no noun after it)."""
    out: list[tuple[str, int, bool | None]] = []
    for match in NUMBER.finditer(text):
        if match.group(0) in given:
            continue
        if counted and YEAR.fullmatch(match.group(0)):  # "en 2020": a date, not a count
            out.append((match.group(0), match.start(), False))
            continue
        if _AMOUNT.match(text, match.end()):  # "6 000€", "2,7 %": a sum or a share, not a count of things
            out.append((match.group(0), match.start(), False if counted else None))
            continue
        noun = _noun_after(text, match.end())
        if noun is None or not counted:
            out.append((match.group(0), match.start(), None))
            continue
        terms = analyze(noun)
        out.append((match.group(0), match.start(), any(t in counted or any(
            len(t) >= 4 and len(c) >= 4 and (t.startswith(c) or c.startswith(t)) for c in counted) for t in terms)))
    return out


def gives_count(text: str, counted: tuple[str, ...], given: tuple[str, ...] = ()) -> bool:
    """A number of ``text`` counts the thing asked about, or a number counts nothing said."""
    found = counts(text, counted, given)
    return any(match is not False for _, _, match in found)


__all__ = ["counted_terms", "counts", "gives_count", "gives_unit", "question_unit"]
