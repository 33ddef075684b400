"""The short answer: the exact span that answers a number, year, place,
organisation or person question ("1791", "1999", "Roubaix", "OVH"), taken
from the quoted sentence or table row, or None when no span fits."""

from __future__ import annotations

import re

from hdf_assistant.analysis import analyze, fold
from hdf_assistant.answer.candidates import ROW, Candidate
from hdf_assistant.answer.evidence import term_match
from hdf_assistant.answer.lexicon import (
    NOT_PERSON,
    NUMBER,
    NUMBER_WORDS,
    PERSON_TITLES,
    PLACE_PREPOSITIONS,
    PROPER,
    YEAR,
)
from hdf_assistant.answer.question import Question
from hdf_assistant.answer.units import counts

_WORD = re.compile(r"[\w’'\-]+")
_DATE_BEFORE = re.compile(r"\b(?:en|depuis|dès|in|since|de|à partir de)\s+$", re.I)
_COMPARISON = re.compile(r"\d\s?%?\s+(?:contre|vs\.?|versus|against|face à|compared with)\s+\d", re.I)
_UNIT = re.compile(r"\s?(?:%|€|euros?\b|k€|M€|Md€)")
#: the time unit of a duration or an age ("2 mois", "quatre mois", "18 ans")
_TIME = re.compile(r"\s+(?:jours?|mois|ans|années?|semaines?|heures?|minutes?|trimestres?|semestres?|days?|"
                   r"months?|years?|weeks?|hours?)\b", re.I)


def _term_positions(text: str, terms: frozenset[str]) -> list[int]:
    """Character positions of the words of ``text`` whose term the question holds."""
    positions = []
    for match in _WORD.finditer(text):
        if any(t in terms for t in analyze(match.group(0))):
            positions.append(match.start())
    return positions


def _nearest(spans: list[tuple[str, int]], anchors: list[int]) -> str | None:
    """The span clearly closest to the question's words; None when two are
    about as close ("2,7% contre 3,2%": which one is asked cannot be told)."""
    if len(spans) == 1:
        return spans[0][0]
    if not spans or not anchors:
        return None
    distance = sorted((min(abs(s[1] - a) for a in anchors), s[0]) for s in spans)
    return distance[0][1] if distance[0][0] * 2 < distance[1][0] else None


def person_names(text: str) -> list[str]:
    """People named in ``text``: two or three capitalised words in a row
    ("Xavier Bertrand") that do not start like an institution, or a name
    after a title ("Mme Dupont")."""
    found = []
    words = [(m.group(1), m.start(1), m.end(1)) for m in PROPER.finditer(text)]
    i = 0
    while i < len(words):
        group = [words[i]]
        while i + len(group) < len(words) and len(group) < 3:
            nxt = words[i + len(group)]
            if text[group[-1][2]:nxt[1]] not in (" ", "-"):
                break
            group.append(nxt)
        titled = bool(PERSON_TITLES.search(text[max(0, words[i][1] - 9):words[i][2]]))
        first = group[0][0]
        plain = all(w[0][0].isupper() and not w[0].isupper() and w[0][1:].islower() for w in group)
        if (len(group) >= 2 and plain and fold(first.lower()) not in {fold(w) for w in NOT_PERSON}) or titled:
            found.append(" ".join(w[0] for w in group))
        i += len(group)
    return found


def _row_value(q: Question, row: str) -> str | None:
    """The cell of a table row whose column the question names ("Combien d'apprenants" -> "Apprenants: 1 050")."""
    best = None
    for cell in row.split(" | "):
        header, _, value = cell.partition(": ")
        if value and any(t in q.query_terms for t in analyze(header)) and value not in q.years + q.numbers:
            best = value.strip()
    return best


def _numbers(text: str, q: Question, kind: str) -> list[tuple[str, int]]:
    pattern = YEAR if kind == "year" else NUMBER
    given = set(q.years + q.numbers)
    # a figure whose noun is not what the question counts is no answer ("1791 startups" for employees)
    other_things = {start for _, start, match in counts(text, q.counted, q.years + q.numbers) if match is False} \
        if kind == "number" and q.counted else set()
    spans = []
    for m in pattern.finditer(text):
        value = m.group(0)
        if m.start() in other_things:
            continue
        if value in given or (kind == "number" and YEAR.fullmatch(value)
                               and (q.years or _DATE_BEFORE.search(text[max(0, m.start() - 12):m.start()]))):
            continue  # "créé en 1999" is a date, not a count
        if kind == "number":
            unit = _UNIT.match(text, m.end()) or (_TIME.match(text, m.end()) if q.unit in ("duration", "age") else None)
            value = text[m.start():unit.end()] if unit else value
        spans.append((value, m.start()))
    if kind == "number" and not spans and not NUMBER.search(text):
        for m in NUMBER_WORDS.finditer(text):
            unit = _TIME.match(text, m.end()) if q.unit in ("duration", "age") else None
            spans.append((text[m.start():unit.end()] if unit else m.group(0), m.start()))
    return spans


def _names(text: str, q: Question, kind: str) -> list[tuple[str, int]]:
    spans = []
    for m in PROPER.finditer(text):
        word = m.group(1)
        if fold(word.lower()) in q.folded_names or len(word) < 2 or m.start(1) == 0:
            continue
        if any(term_match(t, q.query_terms) for t in analyze(word)):
            continue  # "France" does not answer a question about "un Français"
        before = text[:m.start(1)].replace("’", "'").rstrip("' ").split()
        after_preposition = bool(before) and before[-1].lower() in PLACE_PREPOSITIONS
        if kind == "place" and not after_preposition:
            continue
        if kind == "org" and after_preposition and not word.isupper():
            continue
        spans.append((word, m.start(1)))
    return spans


def short_answer(q: Question, candidate: Candidate, antecedent: Candidate | None = None) -> str | None:
    """The exact span of ``candidate`` that answers ``q``, for the kinds that
    have one. When the candidate names its subject by "ce pôle / il" and the
    name asked for is not in it, the first name of the sentence before it
    (``antecedent``) is the answer."""
    span = _short_answer(q, candidate)
    if span is None and antecedent is not None and q.kind in ("org", "place", "person"):
        names = _names(antecedent.text, q, q.kind)
        return names[0][0] if names else None
    return span


def _short_answer(q: Question, candidate: Candidate) -> str | None:
    text = candidate.text
    if q.kind in ("number", "year") and candidate.kind == ROW:
        value = _row_value(q, text)
        if value:
            return value
    anchors = _term_positions(text, q.query_terms)
    if q.kind in ("number", "year"):
        if _COMPARISON.search(text):
            return None  # "2,7% contre 3,2%": which figure is asked for cannot be told from positions
        return _nearest(_numbers(text, q, q.kind), anchors)
    if q.kind in ("place", "org"):
        return _nearest(_names(text, q, q.kind), anchors)
    if q.kind == "person":
        people = [p for p in person_names(text) if fold(p.lower()) not in q.folded_names]
        return people[0] if people else None
    return None
