"""Question analysis, done once per question: the expected kind of answer,
the names, years and numbers it gives (constraints the answer must meet),
its topic words, and the terms the answerer looks up in the index."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hdf_assistant.analysis import analyze, detect_language, fold
from hdf_assistant.answer.lexicon import (
    ANSWER_TYPES,
    DETERMINERS,
    ENGLISH_CONCEPTS,
    FOCUS_ADJECTIVES,
    FRAME_WORDS,
    INVERSION,
    MEASURE_WORDS,
    NAME_JOINERS,
    NUMBER,
    PLURAL_QUESTION,
    PROPER,
    QUESTION_WORDS,
    YEAR,
)
from hdf_assistant.answer.units import counted_terms, question_unit


def answer_type(question: str) -> str:
    """The kind of answer a question expects: year, number, place, org, person or other."""
    for name, pattern in ANSWER_TYPES:
        if pattern.search(question):
            return name
    return "other"


def _clause_start(text: str, position: int) -> bool:
    """True when ``position`` starts the text or a clause ("Carte grise : ...")."""
    before = text[:position].rstrip(" «\"'’(")
    return not before or before[-1] in ".:;?!\n"


def question_entities(question: str) -> list[str]:
    """Capitalised names in the question ("Lille", "OVH", "Amiens"). A
    capital that only starts a clause does not make a name, unless the word
    looks like one anyway (an acronym, or capitals inside: "EuraTechnologies")."""
    return [word for word, _, _ in _names_with_spans(question)]


def _names_with_spans(text: str) -> list[tuple[str, int, int]]:
    names = []
    for match in PROPER.finditer(text):
        word = match.group(1)
        if fold(word.lower()) in QUESTION_WORDS or len(word) < 2:
            continue
        looks_like_name = word.isupper() or any(ch.isupper() for ch in word[1:])
        if _clause_start(text, match.start()) and not looks_like_name:
            continue
        names.append((word, match.start(1), match.end(1)))
    return names


def name_groups(text: str) -> list[str]:
    """Names of several words kept together: "Internet of Things", "Grande Ecole du Numerique"."""
    groups: list[list[str]] = []
    last_end = -1
    for word, start, end in _names_with_spans(text):
        between = text[last_end:start].strip().lower().replace("'", " ").replace("’", " ").split()
        if groups and last_end >= 0 and all(w in NAME_JOINERS for w in between) and len(between) <= 2:
            groups[-1].extend(between + [word])
        else:
            groups.append([word])
        last_end = end
    return [" ".join(g) for g in groups if len(g) > 1]


def acronyms(name: str) -> set[str]:
    """Initials a multi-word name is known by: "Internet of Things" -> IOT, IT;
    "Intelligence Artificielle" -> IA."""
    words = name.replace("-", " ").split()
    if len(words) < 2:
        return set()
    every = "".join(w[0] for w in words).upper()
    capitals = "".join(w[0] for w in words if w[0].isupper()).upper()
    return {a for a in (every, capitals) if len(a) >= 2}


@dataclass(frozen=True)
class Question:
    """What the answerer needs to know about a question, computed once."""

    text: str
    #: the question completed from the conversation (what was retrieved with)
    query: str
    language: str
    #: expected kind of answer: year, number, place, org, person or other
    kind: str
    #: names the question gives ("OVH", "Lille"), and multi-word ones
    names: tuple[str, ...]
    name_groups: tuple[str, ...]
    #: the names, lower-case without accents, as sentences are compared with them
    folded_names: frozenset[str]
    #: names that only the conversation brings (in ``query``, not in ``text``)
    context_names: tuple[str, ...]
    #: years and other numbers the question gives: the answer must hold them
    years: tuple[str, ...]
    numbers: tuple[str, ...]
    #: analyser terms of the completed question
    query_terms: frozenset[str]
    #: (word, term) of the topic nouns of a French question, the frame left out
    topic: tuple[tuple[str, str], ...]
    #: (word, term) of the topic nouns of the completed question too
    query_topic: tuple[tuple[str, str], ...]
    #: (English word, French term) of the glossary words of an English question
    concepts: tuple[tuple[str, str], ...]
    #: (word, term) of the noun a French question asks about ("le budget", "combien d'habitants")
    focus: tuple[tuple[str, str], ...]
    #: the kind of value a number question wants: money, duration, age, percent (None: any)
    unit: str | None
    #: terms of what "combien de X" / "how many X" counts ("salariés" for "employees")
    counted: tuple[str, ...]
    #: whether several things are asked for ("quels sont les axes", "deux secteurs")
    plural: bool
    #: terms whose document frequency the answerer needs
    lookup_terms: tuple[str, ...] = field(default=())


def topic_terms(question: str) -> list[tuple[str, str]]:
    """(word, analyser term) pairs of a French question's topic words
    (frame words such as "année" or "rang" left out)."""
    pairs = []
    for word in re.findall(r"[\w\-]+", fold(question.lower()).replace("'", " ").replace("’", " ")):
        word = INVERSION.sub("", word)
        if word in FRAME_WORDS:
            continue
        for term in analyze(word):
            pairs.append((word, term))
    return pairs


def noun_terms(question: str) -> list[tuple[str, str]]:
    """Topic words in a noun position (after an article or a determiner:
    "le président", "du chômage", "d'affaires"), with their terms. The noun
    after an interrogative ("quels domaines", "quel type") names the kind of
    answer, not the topic, and is left out."""
    words = [INVERSION.sub("", w) for w in re.findall(r"[\w]+", fold(question.lower()))]
    pairs: list[tuple[str, str]] = []
    for before, word in zip(words, words[1:]):
        if before in DETERMINERS and word not in FRAME_WORDS and len(word) > 2:
            pairs.extend((word, term) for term in analyze(word))
    return pairs


_FOCUS_START = re.compile(
    r"^(?:et|mais|alors)?\s*(?:(?:quel|quelle|quels|quelles)\s+(?:est|sont|etait|etaient|sera|seront)\s+"
    r"(?:le|la|les|l)\s+|combien\s+(?:de|d)\s+|qui\s+(?:est|sont|etait)\s+(?:le|la|les|l)\s+)"
)
_COMPLEMENT = re.compile(r"^\s*(?:de|du|des|d)\s+(?:(?:la|le|les|l|un|une)\s+)?")


def focus_terms(question: str) -> list[tuple[str, str]]:
    """(word, term) of the noun a French question asks about: "Quel est le budget de ...",
    "Combien d'habitants ...", "Qui est le maire ...". A measure ("le nombre d'habitants", "le
    chiffre d'affaires") leads to the noun after its "de"; a word that only frames the answer ("la
    durée") gives no focus, nor does the noun right after "quel", which names the kind of answer
    ("quel organisme", "quelle ville"). Names are not focus words."""
    text = fold(question.lower()).replace("'", " ").replace("’", " ")
    match = _FOCUS_START.match(text.strip())
    if match is None:
        return []
    rest = text.strip()[match.end():]
    for _ in range(3):
        word_match = re.match(r"([a-z][a-z\-]*)", rest)
        if word_match is None:
            return []
        word = INVERSION.sub("", word_match.group(1))
        rest = rest[word_match.end():]
        if word in MEASURE_WORDS:
            while (adjective := re.match(r"\s*([a-z]+)", rest)) and adjective.group(1) in FOCUS_ADJECTIVES:
                rest = rest[adjective.end():]
            complement = _COMPLEMENT.match(rest)
            if complement is None:
                return []
            rest = rest[complement.end():]
            continue
        if word in FRAME_WORDS or word in QUESTION_WORDS or len(word) <= 2:
            return []
        if any(fold(n.lower()) == word for n in question_entities(question)):
            return []
        return [(word, term) for term in analyze(word)]
    return []


def english_concepts(question: str) -> list[tuple[str, str]]:
    """(English word, analyser term of its French translation) for the
    glossary words of an English question."""
    pairs: list[tuple[str, str]] = []
    for word in re.findall(r"[a-z]+", question.lower()):
        if word in ENGLISH_CONCEPTS:
            pairs.extend((word, term) for term in analyze(ENGLISH_CONCEPTS[word]))
    return pairs


def _given_numbers(question: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    years = tuple(dict.fromkeys(YEAR.findall(question)))
    numbers = tuple(dict.fromkeys(n for n in (m.group(0) for m in NUMBER.finditer(question))
                                  if n not in years and not re.fullmatch(r"\d", n)))
    return years, numbers


def analyse_question(question: str, search_query: str | None = None) -> Question:
    """Analyse ``question`` (and the conversation's completed form of it) once."""
    query = search_query or question
    language = detect_language(question)
    names = question_entities(question)
    context_names = tuple(n for n in question_entities(query) if n not in question)
    years, numbers = _given_numbers(question)
    query_terms = frozenset(analyze(query, detect_language(query)))
    topic = tuple(noun_terms(question)) if language == "fr" else ()
    query_topic = tuple(noun_terms(query)) if language == "fr" else ()
    concepts = tuple(english_concepts(question))
    focus = tuple(focus_terms(question)) if language == "fr" else ()
    lookup = analyze(query, detect_language(query)) + analyze(query) + [t for _, t in concepts]
    return Question(
        text=question,
        query=query,
        language=language,
        kind=answer_type(question),
        names=tuple(names),
        name_groups=tuple(name_groups(question)),
        folded_names=frozenset(fold(n.lower()) for n in names),
        context_names=context_names,
        years=years,
        numbers=numbers,
        query_terms=query_terms,
        topic=topic,
        query_topic=query_topic,
        concepts=concepts,
        focus=focus,
        unit=question_unit(question),
        counted=counted_terms(question),
        plural=bool(PLURAL_QUESTION.search(question)),
        lookup_terms=tuple(dict.fromkeys(lookup + [t for _, t in topic + query_topic])),
    )


__all__ = ["Question", "analyse_question", "answer_type", "question_entities", "noun_terms", "topic_terms",
           "english_concepts", "name_groups", "acronyms", "focus_terms"]
