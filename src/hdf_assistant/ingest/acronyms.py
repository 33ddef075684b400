"""Acronyms and the forms they stand for, so that a question's "CNI" meets a
document's "carte nationale d'identité" and the reverse.

Two sources, one table:

- the documents themselves, read at indexing time: "carte nationale
  d'identité (CNI)", "RGPD (règlement général sur la protection des
  données)". A candidate is kept only when the acronym's letters appear, in
  order, in the long form, its first letter starting the form's first word
  (Schwartz & Hearst, 2003), so "Cas général (Caf)" teaches nothing;
- a small list of common French administrative acronyms, shipped as data
  (``data/acronyms_fr.tsv``).

Everything is compared lower case without accents.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources

from hdf_assistant.analysis import fold, lexicon

#: Bump when what :func:`definitions` finds in a text changes (the manifest records it per file).
ACRONYM_VERSION = 1

_SHORT = r"[A-ZÀ-Þ][A-Za-zÀ-ÿ0-9&]{1,9}"
#: "long form (ACR)": up to 12 words before the parenthesis, on the same line and sentence
_LONG_THEN_SHORT = re.compile(rf"([^\n.;:()]{{3,160}}?)\s*\(\s*({_SHORT})\s*\)")
#: "ACR (long form)"
_SHORT_THEN_LONG = re.compile(rf"\b({_SHORT})\s*\(\s*([^()\n]{{5,120}}?)\s*\)")
_WORD = re.compile(r"[\w'’\-]+")


def is_acronym_like(word: str) -> bool:
    """"CNI", "RGPD", "Anah", "Ficoba": 2 to 10 letters, capitals first; a capitalised word
    counts only as the short form of a definition (then its letters are checked)."""
    letters = [c for c in word if c.isalpha()]
    return 2 <= len(letters) <= 10 and word[0].isupper()


def _letters(text: str) -> str:
    return "".join(c for c in fold(text.lower()) if c.isalnum())


_FUNCTION_WORDS = lexicon().words("initials_skipped")


def _content_initials(words: list[str]) -> str:
    initials = []
    for word in words:
        for part in re.split(r"['’\-]", fold(word.lower())):
            if part and part not in _FUNCTION_WORDS:
                initials.append(part[0])
    return "".join(initials)


def _strip_article(words: list[str]) -> list[str]:
    """"l'Agence nationale de l'habitat" -> "Agence nationale de l'habitat"."""
    first = re.sub(r"^(?:[lLdD]['’])", "", words[0])
    return ([first] if first else []) + words[1:]


def _plausible(short: str, words: list[str], exact: bool) -> bool:
    """The long form's content words start with the acronym's first letter and give
    most of its letters as initials (all of them, in order, when ``exact``)."""
    initials = _content_initials(words)
    if not initials or initials[0] != short[0]:
        return False
    if exact:
        return initials == short
    return 2 * sum(c in short for c in initials) >= len(short) and len(initials) <= len(short) + 2


def _shortest_end(short: str, words: list[str]) -> int | None:
    """Index of the first word of the shortest end of ``words`` holding the letters of
    ``short`` in order, its first letter starting a word (Schwartz & Hearst)."""
    folded = [fold(w.lower()) for w in words]
    joined = " ".join(folded)
    si, li = len(short) - 1, len(joined) - 1
    while si >= 0:
        c = short[si]
        while li >= 0 and (joined[li] != c or (si == 0 and li > 0 and joined[li - 1].isalnum())):
            li -= 1
        if li < 0:
            return None
        si -= 1
        li -= 1
    return joined[: li + 1].count(" ")


def long_form(acronym: str, text: str) -> str | None:
    """The end of ``text`` that ``acronym`` abbreviates, or None.

    The acronym's letters must appear in order, its first letter starting a
    word (the shortest such end, Schwartz & Hearst); up to three words more
    are taken when their initials give the acronym better ("allocation aux
    adultes handicapés", not "aux adultes handicapés"). A form must have two
    words or more whose initials give most of the acronym's letters."""
    short = _letters(acronym)
    if len(short) < 2 or not short[0].isalpha():
        return None
    words = _WORD.findall(text)[-min(len(short) + 5, 2 * len(short) + 2):]
    start = _shortest_end(short, words) if len(words) >= 2 else None
    if start is None:
        return None
    candidates = [_strip_article(words[s:]) for s in range(start, max(-1, start - 4), -1)]
    candidates = [c for c in candidates if len(c) >= 2]
    for exact in (True, False):
        for words_of_form in candidates:
            if _plausible(short, words_of_form, exact):
                return " ".join(words_of_form)
    return None


def definitions(text: str) -> dict[str, str]:
    """Acronyms defined in ``text``: {"CNI": "carte nationale d'identité"} (first definition wins)."""
    found: dict[str, str] = {}
    for match in _LONG_THEN_SHORT.finditer(text):
        short = match.group(2)
        if is_acronym_like(short) and (form := long_form(short, match.group(1))):
            found.setdefault(short.upper(), form)
    for match in _SHORT_THEN_LONG.finditer(text):
        short, words = match.group(1), _WORD.findall(match.group(2))
        if is_acronym_like(short) and len(words) >= 2 and (form := _leading_form(short, words)):
            found.setdefault(short.upper(), form)
    return found


def _leading_form(short: str, words: list[str]) -> str | None:
    """"ACR (long form, more)": the first words of the parentheses whose initials are the acronym's letters."""
    letters = _letters(short)
    for end in range(2, min(len(words), len(letters) + 5) + 1):
        if _plausible(letters, words[:end], exact=True):
            return " ".join(words[:end])
    return None


@lru_cache(maxsize=1)
def builtin_forms() -> dict[str, tuple[str, ...]]:
    """The shipped list: acronym (upper case) -> its forms."""
    table: dict[str, tuple[str, ...]] = {}
    text = resources.files("hdf_assistant.data").joinpath("acronyms_fr.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        short, _, forms = line.partition("\t")
        table[short.strip().upper()] = tuple(f.strip() for f in forms.split("|") if f.strip())
    return table


class AcronymTable:
    """Acronym -> forms, from the shipped list and the corpus's own definitions."""

    def __init__(self, learned: Iterable[Mapping[str, str]] = ()) -> None:
        forms: dict[str, list[str]] = {k: list(v) for k, v in builtin_forms().items()}
        for mapping in learned:
            for short, form in mapping.items():
                known = forms.setdefault(short.upper(), [])
                if fold(form.lower()) not in {fold(f.lower()) for f in known}:
                    known.append(form)
        self._forms = {k: tuple(v) for k, v in forms.items()}
        # a long form's folded text -> its acronyms, for the reverse look-up
        self._by_form: dict[str, set[str]] = {}
        for short, values in self._forms.items():
            for form in values:
                self._by_form.setdefault(fold(form.lower()), set()).add(short)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and word.upper() in self._forms

    def forms(self, acronym: str) -> tuple[str, ...]:
        """The long forms of ``acronym`` ("CNI" -> "carte nationale d'identité", ...)."""
        return self._forms.get(acronym.upper(), ())

    def acronyms_in(self, text: str) -> set[str]:
        """Acronyms whose long form is written in ``text``."""
        folded = fold(text.lower())
        return {short for form, shorts in self._by_form.items() if form in folded for short in shorts}


__all__ = ["ACRONYM_VERSION", "AcronymTable", "builtin_forms", "definitions", "is_acronym_like", "long_form"]
