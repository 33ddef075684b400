"""When to say "the documents do not contain the answer".

Each rule is a named function that returns the reason it fires, or None;
the answer's ``abstain_reason`` is ``"<rule>: <details>"``. The certain rules
(a name, a year or a number the question gives is missing; the figure asked
for belongs to another name; no person is named) come first; then a small
logistic model, trained on questions we wrote (``benchmarks/abstention.py``),
weighs the softer signals (similarity, coverage, overlap...).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from hdf_assistant.analysis import analyze, fold
from hdf_assistant.answer.candidates import Candidate
from hdf_assistant.answer.evidence import Evidence, idf, mentions, mentions_group, term_match
from hdf_assistant.answer.lexicon import CLAUSE_BREAK, NUMBER, PLACE_FRAME, YEAR
from hdf_assistant.answer.question import Question
from hdf_assistant.answer.short_answer import person_names
from hdf_assistant.metrics import normalize_answer

#: a name found in this share of the passages or more, and in this many, is a common word of a
#: large corpus ("France" in Service-Public fiches): its document has to name it, not the
#: sentence's surroundings (in a small corpus every name of its few documents would pass the share)
COMMON_NAME_SHARE = 0.05
COMMON_NAME_PASSAGES = 100


def common_in_corpus(name: str, ev: Evidence) -> bool:
    terms = [t for t in analyze(name) if len(t) >= 3 and not t.isdigit()]
    floor = max(COMMON_NAME_SHARE * ev.n_documents, COMMON_NAME_PASSAGES)
    return bool(terms) and all(ev.document_frequency.get(t, 0) >= floor for t in terms)


def names_not_mentioned(q: Question, best: Candidate, ev: Evidence) -> str | None:
    """A name the question gives occurs neither in the evidence (the sentence,
    its passage, what introduces it, the document's opening) nor, for a name
    spelled out ("Internet of Things"), as the initials the document uses;
    a name common in the whole corpus only has to occur in the document, as
    must a name the conversation brings."""
    spelled_out = {word for group in q.name_groups if mentions_group(ev.near, group) for word in group.split()}
    missing = [n for n in q.names if n not in spelled_out and not mentions(ev.near, n)
               and not (common_in_corpus(n, ev) and mentions(ev.document, n))]
    missing += [n for n in q.context_names if not mentions(ev.document, n)]
    return f"not mentioned: {', '.join(missing)}" if missing else None


def topic_never_mentioned(q: Question, best: Candidate, ev: Evidence) -> str | None:
    """A topic noun of a French question (an English glossary word of an
    English one) that no document contains at all: the documents are about
    something else."""
    asked = q.topic if q.language == "fr" else q.concepts
    absent = [w for w, t in asked if ev.document_frequency.get(t, 0) == 0 and not term_match(t, ev.document)]
    return f"never mentioned: {', '.join(dict.fromkeys(absent))}" if absent else None


def _holds(text: str, value: str) -> bool:
    return normalize_answer(value) in normalize_answer(text)


def constraint_not_met(q: Question, best: Candidate, ev: Evidence) -> str | None:
    """A year or number the question gives ("en 2020") is not in the chosen
    sentence or table row (nor in what introduces it)."""
    context = best.context + " " + (best.result.chunk.section or "")
    missing = [v for v in q.years + q.numbers if not _holds(context, v)]
    return f"not in the passage: {', '.join(missing)}" if missing else None


def _clauses(text: str) -> list[str]:
    return [c for c in CLAUSE_BREAK.split(text) if c.strip()]


_PLACE_NAME = re.compile(r"\b(?:à|a|en|au|aux)\s+([A-ZÀ-Þ][\w\-]+)")


def attribute_of_other_name(q: Question, best: Candidate, ev: Evidence) -> str | None:
    """The question asks for a figure (a number, a year, a place) about a
    name, and the sentence gives it about another one: the name is in the
    sentence, but the figure is in another clause ("OVH ... emploie 1000
    salariés ... mais aussi CapGemini": the 1000 are OVH's, not CapGemini's),
    or the sentence is about another place ("A Amiens, un campus a ouvert en
    2019" does not say when Lille's opened)."""
    if q.kind not in ("number", "year", "place") or not q.names:
        return None
    folded_sentence = fold(best.text.lower())
    frame = PLACE_FRAME.match(best.text)
    if frame and not any(n in folded_sentence for n in q.folded_names):
        return f"the passage is about {frame.group(1)}, not {', '.join(q.names)}"
    pattern = YEAR if q.kind == "year" else NUMBER if q.kind == "number" else _PLACE_NAME
    given = set(q.years + q.numbers)
    clauses = _clauses(best.text)
    if len(clauses) < 2:
        return None
    for name in q.names:
        folded = fold(name.lower())
        holding = [c for c in clauses if folded in fold(c.lower())]
        if not holding:
            continue
        values = [m.group(0) for c in holding for m in pattern.finditer(c) if m.group(0) not in given]
        if not values:
            return f"the figure is about another name than {name}"
    return None


def no_person_named(q: Question, best: Candidate, ev: Evidence) -> str | None:
    """A question about a person ("qui dirige", "who leads") and a sentence that names nobody."""
    if q.kind != "person":
        return None
    people = [p for p in person_names(best.text) if fold(p.lower()) not in q.folded_names]
    return None if people else "no person is named"


#: the certain rules, checked in this order on the best candidate
RULES = (names_not_mentioned, topic_never_mentioned, constraint_not_met, attribute_of_other_name, no_person_named)


# -- the learned part ----------------------------------------------------------------
FEATURES = ("similarity", "score", "margin", "overlap", "coverage", "sentence_coverage", "typed",
            "names_in_sentence", "kind_other", "english")


def signals(q: Question, best: Candidate, second: Candidate | None, ev: Evidence) -> dict[str, float]:
    """The numbers the abstention model weighs, for one question and its best candidate."""
    # the question's topic nouns; English words are not looked up in French text
    # (names are the names rule's business: a table row need not repeat the programme's name)
    named = {t for n in q.names for t in analyze(n)}
    topic = {t for _, t in q.topic + q.query_topic} - named if q.language == "fr" else set()
    coverage = sentence_coverage = 1.0
    if topic:
        weights = {t: idf(t, ev.document_frequency, ev.n_documents) for t in topic}
        total = sum(weights.values())
        coverage = sum(w for t, w in weights.items() if term_match(t, ev.document)) / total
        sentence_terms = best.terms | set(analyze(best.result.chunk.section or ""))
        sentence_coverage = sum(w for t, w in weights.items() if term_match(t, sentence_terms)) / total
    names = q.names
    folded = fold(best.context.lower())
    found = sum(fold(n.lower()) in folded for n in names)
    return {
        "similarity": best.similarity,
        "score": best.score,
        "margin": best.score - second.score if second is not None else 0.2,
        "overlap": best.signals.get("overlap", 0.0),
        "coverage": coverage,
        "sentence_coverage": sentence_coverage,
        "typed": best.signals.get("typed", 0.0) if q.kind != "other" else 1.0,
        "names_in_sentence": found / len(names) if names else 1.0,
        "kind_other": 1.0 if q.kind == "other" else 0.0,
        # an English question's words are not found in French text: overlap means less there
        "english": 1.0 if q.language == "en" else 0.0,
    }


@dataclass(frozen=True)
class AbstentionModel:
    """P(the documents answer the question) from the signals: a logistic model."""

    weights: dict[str, float]
    bias: float
    #: abstain when the probability is below this
    threshold: float

    def probability(self, values: dict[str, float]) -> float:
        z = self.bias + sum(w * values.get(name, 0.0) for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_dict(self) -> dict[str, object]:
        return {"weights": self.weights, "bias": self.bias, "threshold": self.threshold}


MODEL_FILE = "abstention_model.json"


@lru_cache(maxsize=1)
def default_model() -> AbstentionModel:
    """The model shipped with the package (trained by ``benchmarks/abstention.py``)."""
    data = json.loads(resources.files("hdf_assistant.answer").joinpath(MODEL_FILE).read_text(encoding="utf-8"))
    return AbstentionModel(dict(data["weights"]), float(data["bias"]), float(data["threshold"]))


def low_confidence(values: dict[str, float], model: AbstentionModel) -> str | None:
    """The learned rule: the signals say the best sentence is probably not an answer."""
    p = model.probability(values)
    return f"confidence {p:.2f} below {model.threshold:.2f}" if p < model.threshold else None


def first_rule(q: Question, best: Candidate, ev: Evidence) -> str | None:
    """``"rule_name: details"`` for the first certain rule that fires, else None."""
    for rule in RULES:
        reason = rule(q, best, ev)
        if reason:
            return f"{rule.__name__}: {reason}"
    return None


__all__ = ["RULES", "FEATURES", "AbstentionModel", "default_model", "first_rule", "low_confidence", "signals",
           "names_not_mentioned", "topic_never_mentioned", "constraint_not_met", "attribute_of_other_name",
           "no_person_named"]
