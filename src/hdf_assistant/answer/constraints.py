"""Does a passage meet a year or a number the question gives?

Written as it is ("en 2020" in a sentence about 2020), or inside a range or
past a bound the passage states: "J'ai 22 ans" meets "de 18 à 25 ans",
"0,6 g" meets "entre 0,5 et 0,8 g/l", "150 points" meets "entre 101 et 199
points", "un PEL ouvert en 2019" meets "ouvert depuis le 1er janvier 2018".
A neighbouring value alone ("en 2019" for a question about 2018) never does.
"""

from __future__ import annotations

import re

from hdf_assistant.analysis import fold, normalize_answer
from hdf_assistant.answer.lexicon import YEAR

_NUMBER = r"(\d+(?:[.,]\d+)?)"
#: "entre 0,5 et 0,8", "de 18 à 25", "18 à 25", "101-199"
_RANGE = re.compile(rf"(?:\bentre\s+{_NUMBER}\s*\S{{0,6}}\s+et\s+{_NUMBER}|(?:\bde\s+)?{_NUMBER}\s*\S{{0,6}}\s+a\s+{_NUMBER}"
                    rf"|{_NUMBER}\s*-\s*{_NUMBER})")
#: a bound, then (within a few words) its value: "moins de 25 ans", "depuis le 1er janvier 2018"
_LOWER = r"(?:plus\s+de|superieure?s?\s+a|au\s+moins|a\s+partir\s+d[eu]|des|depuis|apres|au-dela\s+d[eu]|minimum|>|≥|⩾)"
_UPPER = r"(?:moins\s+de|inferieure?s?\s+a|jusqu\s*a|au\s+plus|au\s+maximum|maximum|avant|<|≤|⩽)"
_BOUND = re.compile(rf"(?P<kind>{_LOWER}|{_UPPER})\s+(?P<between>(?:[^\d\s]+\s+){{0,3}}?)(?:\d+\s*(?:er|e)?\s+[a-z]+\s+)?"
                    rf"(?P<value>\d+(?:[.,]\d+)?)")
_IS_LOWER = re.compile(rf"^{_LOWER}$")


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return None


def _plain(text: str) -> str:
    """Lower case, no accents, thousands separators removed, one space between words."""
    return fold(normalize_answer(text)).replace("'", " ").replace("’", " ")


def within_bounds(text: str, value: str) -> bool:
    """True when ``value`` lies in a range of ``text`` or past one of its bounds."""
    wanted = _number(normalize_answer(value))
    if wanted is None:
        return False
    year = bool(YEAR.fullmatch(value.strip()))
    plain = _plain(text)
    for match in _RANGE.finditer(plain):
        numbers = [_number(g) for g in match.groups() if g is not None]
        if len(numbers) == 2 and None not in numbers:
            low, high = sorted(n for n in numbers if n is not None)
            if low <= wanted <= high and (not year or YEAR.fullmatch(f"{int(low)}")):
                return True
    for match in _BOUND.finditer(plain):
        bound = _number(match.group("value"))
        if bound is None or (year and not YEAR.fullmatch(match.group("value"))):
            continue
        if year != bool(YEAR.fullmatch(match.group("value"))):
            continue
        lower = bool(_IS_LOWER.match(match.group("kind")))
        if (lower and wanted >= bound) or (not lower and wanted <= bound):
            return True
    return False


def holds(text: str, value: str) -> bool:
    """``value`` (a year or number the question gives) is met by ``text``."""
    return normalize_answer(value) in normalize_answer(text) or within_bounds(text, value)


__all__ = ["holds", "within_bounds"]
