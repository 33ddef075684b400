"""Follow-up questions: complete a question from the conversation for retrieval.

Without a language model, a follow-up ("Et combien de salariés y
travaillent ?", "Which centre supports the first one?") is completed with
the key words of the earlier user turn it depends on. A question that stands
on its own is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hdf_assistant.analysis import fold, lexicon

_FOLLOW_UP = re.compile(
    r"^(?:et|mais|alors|aussi|and|but|also|what about|how about|et pour|et en)\b"
    r"|\b(?:il|elle|ils|elles|y|lui|leur|leurs|son|sa|ses|ce|cet|cette|ces|celui|celle|ceux|celles|"
    r"dernier|derni[eè]re|premier|premi[eè]re|l[aà]-bas|it|its|they|their|them|this|that|these|those|"
    r"there|former|latter|first one|second one|the same)\b"
    r"|-t-(?:il|elle|ils|elles)\b",
    re.IGNORECASE,
)
#: "Qu'est-ce que la médiation familiale ?", "What is EuraTechnologies?": short, but complete
_DEFINITION = re.compile(
    r"^(?:qu['’]est[- ]ce\s+qu|parle[sz]?-moi\s+d|"
    r"(?:c['’]est\s+quoi|que\s+(?:fait|font)|qui\s+(?:est|sont)|what\s+(?:is|are|does)|who\s+(?:is|are)|"
    r"tell\s+me\s+about)\b)",
    re.IGNORECASE,
)
_EST_CE = re.compile(r"\best[- ]ce\b", re.IGNORECASE)
_INVERSION = re.compile(r"-(?:t-)?(?:il|elle|ils|elles)\b", re.IGNORECASE)
#: a question's leading conjunction ("Et ...", "And ...")
_LEADING = re.compile(r"^\s*(?:et|mais|alors|aussi|and|but|also)\b[\s,]*", re.IGNORECASE)
#: a name inside a sentence ("OVH", "Roubaix", "EuraTechnologies"): the turn has a subject of its own
_NAME = re.compile(r"(?<=[\w,] )(?:[A-ZÀ-Þ]{2,}\b|[A-ZÀ-Þ][a-zà-ÿ]+[A-ZÀ-Þ][\w]*|[A-ZÀ-Þ][a-zà-ÿ]{2,})|\b[A-ZÀ-Þ]{2,}\b")
_WORD = re.compile(r"[\w][\w\-’']*", re.UNICODE)
_SKIP = lexicon().words("follow_up_skip")
_CONTENT_MIN = 3


def _content_words(text: str) -> list[str]:
    words = []
    for raw in _WORD.findall(text):
        word = re.sub(r"^(?:[ldjnscmt]|qu)['’]", "", raw, flags=re.IGNORECASE)
        if fold(word.lower()) in _SKIP or len(word) < 3 or word.isdigit():
            continue
        words.append(word)
    return words


#: a question word: with a name of its own, a question starting with "Et" / "And" is complete
_ASKS = re.compile(r"\b(?:o[uù]|quand|combien|quel(?:le)?s?|qui|comment|pourquoi|where|when|how|what|which|who|"
                   r"why)\b", re.IGNORECASE)


def is_follow_up(question: str) -> bool:
    """True when the question leans on the conversation (pronoun, ellipsis, "Et ..."); a
    short question asking what something is ("Qu'est-ce qu'EuraTechnologies ?") stands alone,
    as does one that names its subject and asks something of it ("And where was OVH founded?":
    the latest subject wins over the earlier turns')."""
    body = _EST_CE.sub(" ", question)  # the "ce" of "est-ce" points at nothing
    # "Et où OVH a-t-il été créé ?": the "il" of the inversion is OVH itself
    pronoun = _FOLLOW_UP.search(_INVERSION.sub(" ", _LEADING.sub("", body)))
    if _LEADING.match(body) and not pronoun and names_a_subject(question) and _ASKS.search(question):
        return False
    if _FOLLOW_UP.search(body):
        return True
    content = _content_words(question)
    return len(content) < _CONTENT_MIN and not (content and _DEFINITION.match(question.strip()))


def names_a_subject(turn: str) -> bool:
    """The turn names what it is about ("And where was OVH founded?"), even as a follow-up."""
    return bool(_NAME.search(turn))


def contextualize(question: str, history: Sequence[str]) -> str:
    """The question completed with the key words of the turn(s) it follows: the latest turn's,
    and an older turn's only while the later ones lean on it without naming a subject of their
    own (so "OVH" in "And where was OVH founded?" wins over the startups of the turn before)."""
    if not history or not is_follow_up(question):
        return question
    extra: list[str] = []
    for turn in reversed(history[-2:]):
        for word in _content_words(turn):
            if word.lower() not in {w.lower() for w in extra} and word.lower() not in question.lower():
                extra.append(word)
        if not is_follow_up(turn) or names_a_subject(turn):
            break
    return f"{question} {' '.join(extra)}".strip() if extra else question
