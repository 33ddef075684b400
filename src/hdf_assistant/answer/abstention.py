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
from functools import cached_property, lru_cache
from importlib import resources

import numpy as np

from hdf_assistant.analysis import analyze, fold
from hdf_assistant.answer.candidates import Candidate
from hdf_assistant.answer.constraints import holds
from hdf_assistant.answer.evidence import (
    Evidence,
    form_terms,
    idf,
    mentions,
    mentions_form,
    mentions_group,
    name_forms,
    term_match,
)
from hdf_assistant.answer.lexicon import CLAUSE_BREAK, NUMBER, PLACE_FRAME, YEAR
from hdf_assistant.answer.question import Question
from hdf_assistant.answer.short_answer import person_names
from hdf_assistant.ingest.acronyms import is_acronym_like

#: a name found in this share of the passages or more, and in this many, is a common word of a
#: large corpus ("France" in Service-Public fiches): its document has to name it, not the
#: sentence's surroundings (in a small corpus every name of its few documents would pass the share)
COMMON_NAME_SHARE = 0.05
COMMON_NAME_PASSAGES = 100


def common_in_corpus(name: str, ev: Evidence) -> bool:
    terms = [t for t in analyze(name) if len(t) >= 3 and not t.isdigit()]
    floor = max(COMMON_NAME_SHARE * ev.n_documents, COMMON_NAME_PASSAGES)
    return bool(terms) and all(ev.document_frequency.get(t, 0) >= floor for t in terms)


def _written_near(name: str, ev: Evidence) -> bool:
    """The name, or another way of writing it (acronym <-> long form), is near the answer."""
    return mentions(ev.near, name) or any(mentions_form(ev.near, f) for f in name_forms(name, ev.acronyms))


def _known_concept(name: str, ev: Evidence) -> bool:
    """An acronym with a known long form ("CNI", "HLM") that the corpus writes, in one form or
    the other: a thing asked about, weighed like the question's other words (by the abstention
    model), not a name that must stand beside the answer."""
    forms = name_forms(name, ev.acronyms)
    if not forms or not is_acronym_like(name):
        return False
    written = [t for t in analyze(name) if len(t) >= 2]
    return (bool(written) and all(ev.in_corpus(t) for t in written)) or any(
        all(ev.in_corpus(t) for t in form_terms(f)) for f in forms if form_terms(f))


def names_near(q: Question, ev: Evidence) -> set[str]:
    """The question's names found near the answer: written there, in another form (acronym <->
    long form, either way), or as the initials of a name spelled out ("Internet of Things")."""
    found = {word for group in q.name_groups if mentions_group(ev.near, group) for word in group.split()}
    # "l'Agence nationale de l'habitat" in the question, "Anah" near the answer
    for short in ev.acronyms.acronyms_in(q.text):
        if mentions(ev.near, short):
            found |= {n for n in q.names if any(fold(n.lower()) in fold(f.lower()) for f in ev.acronyms.forms(short))}
    return found | {n for n in q.names if _written_near(n, ev)}


def missing_names(q: Question, ev: Evidence) -> list[str]:
    """The question's names found neither near the answer (in any form) nor, for a name common
    in the corpus or a known concept, in the answer's document or the corpus."""
    near = names_near(q, ev)
    return [n for n in q.names if n not in near
            and not (common_in_corpus(n, ev) and mentions(ev.document, n)) and not _known_concept(n, ev)]


def names_not_mentioned(q: Question, best: Candidate, ev: Evidence) -> str | None:
    """A name the question gives occurs neither in the evidence (the sentence,
    its passage, what introduces it, the document's opening), in any form
    (an acronym or its long form: "CNI" / "carte nationale d'identité"), nor,
    for a name spelled out ("Internet of Things"), as the initials the
    document uses; a name common in the whole corpus only has to occur in the
    document, as must a name the conversation brings. An acronym the corpus
    knows as a concept ("HLM") is left to the abstention model."""
    missing = missing_names(q, ev)
    missing += [n for n in q.context_names if not mentions(ev.document, n)]
    return f"not mentioned: {', '.join(missing)}" if missing else None


def _absent(term: str, ev: Evidence) -> bool:
    return ev.document_frequency.get(term, 0) == 0 and not term_match(term, ev.document)


def topic_never_mentioned(q: Question, best: Candidate, ev: Evidence) -> str | None:
    """What a French question asks about (its focus: "le budget", "combien
    d'habitants", "qui est le maire") is in no document at all; for an
    English question, a glossary word ("unemployment"). Other words of the
    question that no document holds ("mon proprio", "au bout de") are the
    question's own wording: the abstention model weighs them."""
    asked = q.focus if q.language == "fr" else q.concepts
    absent = [w for w, t in asked if _absent(t, ev)]
    return f"never mentioned: {', '.join(dict.fromkeys(absent))}" if absent else None


def constraint_not_met(q: Question, best: Candidate, ev: Evidence) -> str | None:
    """A year or number the question gives ("en 2020") is not in the chosen
    sentence or table row (nor in what introduces it), neither written nor
    inside a range or past a bound it states ("22 ans": "de 18 à 25 ans")."""
    context = best.context + " " + (best.result.chunk.section or "")
    missing = [v for v in q.years + q.numbers if not holds(context, v)]
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
FEATURES = ("similarity", "similarity_z", "passage_z", "overlap", "coverage", "sentence_coverage", "absent_share",
            "names_found", "typed", "keyword_agreement", "kind_other", "english")


@dataclass(frozen=True)
class CorpusScores:
    """Where a question's scores stand in the corpus's own distribution (no labelled question
    needed): the cosine of the question with a fixed sample of the index's passages, and what
    the keyword ranking puts first."""

    #: mean and spread of the question's cosine with the sampled passages
    mean: float
    spread: float
    #: cosine of the question with the passage the best sentence comes from
    passage: float
    #: files of the keyword (BM25) ranking's best passages, best first
    keyword_sources: tuple[str, ...] = ()

    def z(self, value: float) -> float:
        return (value - self.mean) / self.spread if self.spread > 1e-6 else 0.0


def _weights(terms: set[str], ev: Evidence) -> dict[str, float]:
    return {t: idf(t, ev.document_frequency, ev.n_documents) for t in terms}


def signals(q: Question, best: Candidate, ev: Evidence, corpus: CorpusScores | None = None) -> dict[str, float]:
    """The numbers the abstention model weighs, for one question and its best candidate.
    None of them is a word list of a corpus: shares of the question's words found, and scores
    placed in the corpus's own score distribution."""
    # the question's topic nouns; English words are not looked up in French text
    # (names are the names rule's business: a table row need not repeat the programme's name)
    named = {t for n in q.names for t in analyze(n)}
    topic = {t for _, t in q.topic + q.query_topic} - named if q.language == "fr" else set()
    coverage = sentence_coverage = 1.0
    absent_share = 0.0
    sentence_terms = best.terms | set(analyze(best.result.chunk.section or ""))
    if topic:
        weights = _weights(topic, ev)
        total = sum(weights.values())
        coverage = sum(w for t, w in weights.items() if term_match(t, ev.document)) / total
        sentence_coverage = sum(w for t, w in weights.items() if term_match(t, sentence_terms)) / total
        absent_share = sum(w for t, w in weights.items() if _absent(t, ev)) / total
    names = q.names
    found = len(names_near(q, ev) & set(names))
    # 1 / rank of the best sentence's file in the keyword ranking (0: not in its first five); an
    # English question's words rarely reach French text: no keyword ranking says nothing either way
    agreement = 0.5
    if corpus is not None and corpus.keyword_sources:
        source = best.result.chunk.source
        agreement = next((1.0 / rank for rank, s in enumerate(corpus.keyword_sources[:5], start=1) if s == source), 0.0)
    return {
        "similarity": best.similarity,
        "similarity_z": corpus.z(best.similarity) if corpus is not None else 0.0,
        "passage_z": corpus.z(corpus.passage) if corpus is not None else 0.0,
        "overlap": best.signals.get("overlap", 0.0),
        "coverage": coverage,
        "sentence_coverage": sentence_coverage,
        "absent_share": absent_share,
        "names_found": found / len(names) if names else 1.0,
        "typed": best.signals.get("typed", 0.0) if q.kind != "other" or q.unit is not None else 1.0,
        "keyword_agreement": agreement,
        "kind_other": 1.0 if q.kind == "other" else 0.0,
        # an English question's words are not found in French text: overlap means less there
        "english": 1.0 if q.language == "en" else 0.0,
    }


def pair_features(query_vector: np.ndarray, sentence_vector: np.ndarray) -> np.ndarray:
    """How the question's and the sentence's vectors meet, dimension by dimension: their product (whose
    sum is the cosine) and their absolute difference. The model weighs them with one learned direction
    (a few principal axes of the training pairs folded into one vector): what the cosine alone cannot say
    about whether the sentence answers."""
    q = np.asarray(query_vector, dtype=np.float32)
    s = np.asarray(sentence_vector, dtype=np.float32)
    return np.concatenate([q * s, np.abs(q - s)])


@dataclass(frozen=True)
class AbstentionModel:
    """P(the documents answer the question) from the signals: a logistic model; with ``pair_weights``,
    also from the question's and the sentence's embeddings (:func:`pair_features`)."""

    weights: dict[str, float]
    bias: float
    #: abstain when the probability is below this
    threshold: float
    #: weights of :func:`pair_features` (empty: the embeddings are not weighed)
    pair_weights: tuple[float, ...] = ()

    def probability(self, values: dict[str, float], pair: np.ndarray | None = None) -> float:
        z = self.bias + sum(w * values.get(name, 0.0) for name, w in self.weights.items())
        if self.pair_weights:
            if pair is None:  # its bias counts on the pair's part: without it the probability means nothing
                raise ValueError("this abstention model weighs the embeddings: give the pair_features")
            z += float(np.dot(self._pair_vector, pair))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    @property
    def weighs_embeddings(self) -> bool:
        return bool(self.pair_weights)

    @cached_property
    def _pair_vector(self) -> np.ndarray:
        """``pair_weights`` as an array, made once (the model is asked for every candidate judged)."""
        return np.asarray(self.pair_weights, dtype=np.float32)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"weights": self.weights, "bias": self.bias, "threshold": self.threshold}
        if self.pair_weights:
            out["pair_weights"] = list(self.pair_weights)
        return out


MODEL_FILE = "abstention_model.json"


@lru_cache(maxsize=1)
def default_model() -> AbstentionModel:
    """The model shipped with the package (trained by ``benchmarks/abstention.py``)."""
    data = json.loads(resources.files("hdf_assistant.answer").joinpath(MODEL_FILE).read_text(encoding="utf-8"))
    return AbstentionModel(dict(data["weights"]), float(data["bias"]), float(data["threshold"]),
                           tuple(float(w) for w in data.get("pair_weights", ())))


#: how a refusal of the learned check starts
LEARNED_CHECK = "confidence"


def low_confidence(values: dict[str, float], model: AbstentionModel, pair: np.ndarray | None = None) -> str | None:
    """The learned rule: the signals (and the embeddings' :func:`pair_features`) say the best sentence
    is probably not an answer."""
    p = model.probability(values, pair)
    return f"{LEARNED_CHECK} {p:.2f} below {model.threshold:.2f}" if p < model.threshold else None


#: the name of the rule that a question's focus word is in no document (the answerer may find it
#: said in other words)
TOPIC_RULE = "topic_never_mentioned"


def first_rule(q: Question, best: Candidate, ev: Evidence, skip: str | None = None) -> str | None:
    """``"rule_name: details"`` for the first certain rule that fires (but ``skip``), else None."""
    for rule in RULES:
        if rule.__name__ == skip:
            continue
        reason = rule(q, best, ev)
        if reason:
            return f"{rule.__name__}: {reason}"
    return None


__all__ = ["LEARNED_CHECK", "TOPIC_RULE", "RULES", "FEATURES", "AbstentionModel", "CorpusScores", "missing_names", "names_near",
           "default_model", "first_rule", "low_confidence", "pair_features", "signals",
           "names_not_mentioned", "topic_never_mentioned", "constraint_not_met", "attribute_of_other_name",
           "no_person_named"]
