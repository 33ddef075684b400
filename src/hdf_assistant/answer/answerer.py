"""The extractive answerer: the analysed question, the retrieved passages and
a read-only view of the index in, a cited answer (or an abstention) out.

Candidate sentences and table rows are scored against the question:
similarity with the same embedding model, overlap of the question's terms,
whether the candidate holds the expected kind of answer, and whether it
meets the question's constraints (a year or number the question gives).
The best one is checked by the abstention rules, then quoted, with the
items of the list it introduces when it introduces one, and the short
answer first when the question has one.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, replace
from typing import NamedTuple, Protocol

import numpy as np

from hdf_assistant.analysis import analyze, fold
from hdf_assistant.answer.abstention import (
    LEARNED_CHECK,
    TOPIC_RULE,
    AbstentionModel,
    CorpusScores,
    default_model,
    first_rule,
    low_confidence,
    pair_features,
    signals,
)
from hdf_assistant.answer.candidates import (
    HEADING,
    ITEM,
    Candidate,
    candidate_sentences,
    list_items,
    next_sentence,
    previous_sentence,
)
from hdf_assistant.answer.compose import abstain, compose
from hdf_assistant.answer.constraints import holds
from hdf_assistant.answer.evidence import (
    DOCUMENT_OPENING,
    Evidence,
    IndexView,
    gather_evidence,
    more_of_best_document,
    term_match,
)
from hdf_assistant.answer.explain import explain
from hdf_assistant.answer.lexicon import ANAPHORA, LIST_COUNT, NUMBER, YEAR
from hdf_assistant.answer.question import Question, question_entities
from hdf_assistant.answer.short_answer import short_answer
from hdf_assistant.answer.units import gives_count, gives_unit, mentions_place_noun
from hdf_assistant.schema import Answer, ScoredChunk

#: sentence vectors remembered per process (about 1.6 kB each: 20,000 are 31 MB)
SENTENCE_CACHE = 20_000
#: passages sampled from the index to place a question's scores in the corpus's distribution
CORPUS_SAMPLE = 256
#: files the sample is drawn from (every k-th file, in name order)
SAMPLE_FILES = 64
#: how much closer (cosine) the sentence must be to the question with its focus word than without it
#: for the word to count as said in other words: set on hand-made pairs ("salaire" / "rémunération"
#: +0.037, "coût" / "prix" +0.031; "chômage" / "emplois" +0.013, "budget" / "stratégie" -0.014)
FOCUS_PARAPHRASE_GAIN = 0.02


class SentenceEmbedder(Protocol):
    def embed_sentences(self, texts: list[str]) -> np.ndarray: ...

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class AnswerParams:
    """Weights of the sentence score (benchmarks/README.md says where they come from)."""

    passages: int = 5  # best chunks whose sentences are candidates
    lexical_weight: float = 0.25
    type_weight: float = 0.06
    #: penalty for a sentence without a number (year) when one is asked for
    missing_type_penalty: float = 0.1
    #: penalty for very short sentences (list stubs) and for headings
    short_penalty: float = 0.1
    short_words: int = 5
    heading_penalty: float = 0.1
    rank_weight: float = 0.03
    #: models without a trained abstention model: abstain below this similarity
    min_similarity: float = 0.25
    #: also quote the second sentence when it scores this close to the first
    second_sentence_margin: float = 0.02
    #: list items quoted at most
    max_items: int = 8
    #: passages of the best document added to the candidates, its opening first
    #: (the retriever gives one passage per document first)
    best_document_passages: int = 2
    #: bonus of a sentence in the best document's opening (a fiche's summary)
    opening_weight: float = 0.06
    #: also quote the sentence that follows the best one (what it announces, how it goes on)
    #: unless the answer is a figure, a date or a name the sentence gives (a short answer)
    next_sentence: bool = True
    #: candidates after the best one that may answer when the best one is not confident enough
    alternatives: int = 4
    #: ... if they score at most this much below it
    alternative_margin: float = 0.1


def _type_match(q: Question, sentence: str) -> float:
    """1 when the sentence holds the kind of value asked for: a sum for "combien coûte", a
    duration for "combien de temps", a count of the thing counted ("1000 salariés", not
    "1791 startups", for "combien de salariés"), a year, a name."""
    if q.unit is not None:
        return 1.0 if gives_unit(q.unit, sentence) else 0.0
    if q.kind == "number" and q.counted:
        return 1.0 if gives_count(sentence, q.counted, q.years + q.numbers) else 0.0
    if q.kind == "number":
        return 1.0 if any(m.group(0) not in q.years + q.numbers for m in NUMBER.finditer(sentence)) else 0.0
    if q.kind == "year":  # "quand": a year, or a date or moment ("dans le mois", "avant le 31 mai", "à 16 ans")
        return 1.0 if any(y not in q.years for y in YEAR.findall(sentence)) or gives_unit("duration", sentence) else 0.0
    if q.kind == "place" and mentions_place_noun(sentence):  # "où": "à la mairie", "en fourrière"
        return 1.0
    if q.kind in ("place", "org", "person"):
        return 1.0 if any(fold(n.lower()) not in q.folded_names for n in question_entities(sentence)) else 0.0
    return 0.0


def meets_constraints(q: Question, candidate: Candidate) -> bool:
    """Every year and number the question gives is in the candidate (or what introduces it),
    written or inside a range it states."""
    text = candidate.context + " " + (candidate.result.chunk.section or "")
    return all(holds(text, v) for v in q.years + q.numbers)


def corpus_sample(index: IndexView) -> list[str]:
    """A fixed sample of the index's passages (at most CORPUS_SAMPLE, from every k-th file):
    the question's cosine with them is the corpus's own score distribution."""
    sources = sorted(index.manifest.files)
    step = max(1, len(sources) // SAMPLE_FILES)
    ids = [cid for source in sources[::step] for cid in index.chunk_ids_of(source)]
    if len(ids) > CORPUS_SAMPLE:
        ids = [ids[int(i * len(ids) / CORPUS_SAMPLE)] for i in range(CORPUS_SAMPLE)]
    return ids


def introduces_list(candidate: Candidate) -> bool:
    return candidate.text.rstrip().endswith(":")


class Judgement(NamedTuple):
    """One candidate as the abstention checks see it."""

    candidate: Candidate
    previous: Candidate | None
    evidence: Evidence
    values: dict[str, float]
    #: the check that refuses it ("rule: details"), or None
    reason: str | None


class ExtractiveAnswerer:
    """Selects and quotes the sentences that answer the question."""

    mode = "extractive"

    def __init__(self, embedder: SentenceEmbedder, params: AnswerParams | None = None,
                 model: AbstentionModel | None = None) -> None:
        self.embedder = embedder
        self.params = params or AnswerParams()
        e5 = "e5" in getattr(embedder, "model_id", "e5").lower()
        shipped = default_model() if e5 and model is None else None
        if shipped is not None and shipped.weighs_embeddings and 2 * getattr(embedder, "dim", 0) != len(
                shipped.pair_weights):
            shipped = None  # another e5 than the one it was trained on (its vectors have another size)
        #: the abstention model was trained with multilingual-e5-small's vectors; other models use the similarity floor
        self.model = model or shipped
        self._cache: dict[str, np.ndarray] = {}
        self._cache_lock = threading.Lock()
        self._sample: tuple[str, list[str]] = ("", [])

    def clear_cache(self) -> None:
        """Forget the remembered sentence vectors."""
        self._cache.clear()

    def _sentence_vectors(self, texts: list[str]) -> np.ndarray:
        """Passage vectors of candidate sentences; the ones seen before are not
        embedded again. Safe with questions answered side by side: a vector is
        read from this call's own copy, never from the cache another thread trims."""
        found = {t: v for t in dict.fromkeys(texts) if (v := self._cache.get(t)) is not None}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            for text, vector in zip(missing, self.embedder.embed_sentences(missing)):
                found[text] = vector
            with self._cache_lock:
                for text in missing:
                    if len(self._cache) >= SENTENCE_CACHE:
                        self._cache.pop(next(iter(self._cache)), None)
                    self._cache[text] = found[text]
        return np.vstack([found[t] for t in texts])

    def corpus_scores(self, q: Question, index: IndexView | None, query_vec: np.ndarray) -> CorpusScores | None:
        """Where the question's scores stand among the corpus's (see :class:`CorpusScores`);
        ``passage`` is set per candidate by :meth:`_judge`."""
        if index is None or not index.size:
            return None
        version, ids = self._sample
        if version != index.version:
            ids = corpus_sample(index)
            self._sample = (index.version, ids)
        sample = index.dense_scores(query_vec, ids) if ids else np.zeros(1, dtype=np.float32)
        keyword = tuple(dict.fromkeys(r.chunk.source for r in index.keyword_search(q.query, 10)))
        return CorpusScores(float(np.mean(sample)), float(np.std(sample)), 0.0, keyword)

    def score(self, q: Question, results: list[ScoredChunk], index: IndexView | None,
              query_vec: np.ndarray | None = None) -> list[Candidate]:
        """Candidates, best first, each with its score and the signals it came from."""
        p = self.params
        if query_vec is None:
            query_vec = self.embedder.embed_queries([q.query])[0]
        more = more_of_best_document(results, p.passages, index, query_vec, p.best_document_passages)
        candidates = candidate_sentences(results[: p.passages] + more, p.passages + len(more),
                                         index.page_text if index is not None else None)
        if not candidates:
            return []
        similarities = self._sentence_vectors([c.context for c in candidates]) @ query_vec
        for cand, sim in zip(candidates, similarities):
            cand.terms = terms = frozenset(analyze(cand.context))
            overlap = sum(term_match(t, terms) for t in q.query_terms) / len(q.query_terms) if q.query_terms else 0.0
            # "Ce pôle est le premier incubateur ...": the name it stands for is in the sentence before
            typed = _type_match(q, cand.context if ANAPHORA.match(cand.text) else cand.text)
            cand.similarity = float(sim)
            cand.score = float(sim) + p.lexical_weight * overlap + p.type_weight * typed + p.rank_weight / cand.rank
            if cand.start < DOCUMENT_OPENING and cand.result.chunk.source == results[0].chunk.source and (
                    cand.result.chunk.page or 1) == 1:
                cand.score += p.opening_weight
            if (q.kind in ("number", "year") or q.unit is not None) and not typed:
                cand.score -= p.missing_type_penalty
            if len(cand.text.split()) < p.short_words:
                cand.score -= p.short_penalty
            if cand.kind == HEADING:  # a short heading ("Régime micro-foncier") pays both: a title is no answer
                cand.score -= p.heading_penalty
            cand.signals = {"overlap": overlap, "typed": typed}
        ranked = sorted(candidates, key=lambda c: -c.score)
        # a title says what a section is about, never the answer: the section's first sentence answers for it
        if ranked and ranked[0].kind == HEADING:
            heading = ranked[0]
            below = [c for c in ranked if c.same_place(heading) and c.start >= heading.end and c.kind != HEADING]
            if below:
                content = min(below, key=lambda c: c.start)
                content.score = max(content.score, heading.score)
                ranked.remove(content)
                ranked.insert(0, content)
        return ranked

    def _judge(self, q: Question, candidate: Candidate, ranked: list[Candidate], index: IndexView | None,
               query_vec: np.ndarray, corpus: CorpusScores | None) -> Judgement:
        """The abstention rules and the learned check, for one candidate."""
        previous = previous_sentence(candidate, ranked)
        evidence = gather_evidence(candidate, previous, index, list(q.lookup_terms), q.names)
        reason = first_rule(q, candidate, evidence)
        if reason is not None and reason.startswith(TOPIC_RULE) and self._focus_met_by_meaning(q, candidate, query_vec):
            reason = first_rule(q, candidate, evidence, skip=TOPIC_RULE)
        if corpus is not None and index is not None:
            corpus = replace(corpus, passage=float(index.dense_scores(query_vec, [candidate.result.chunk.id])[0]))
        values = signals(q, candidate, evidence, corpus)
        if reason is None:
            if self.model is not None:
                pair = (pair_features(query_vec, self._sentence_vectors([candidate.context])[0])
                        if self.model.weighs_embeddings else None)
                reason = low_confidence(values, self.model, pair)
            elif candidate.similarity < self.params.min_similarity:
                reason = f"low_similarity: {candidate.similarity:.3f}"
        return Judgement(candidate, previous, evidence, values, reason)

    def _focus_met_by_meaning(self, q: Question, candidate: Candidate, query_vec: np.ndarray) -> bool:
        """No document writes the word the question asks about, but the sentence may say it in
        other words ("rémunération" for "salaire"): it does when the sentence is clearly closer to
        the question with that word than without it (a related word is not enough: "chômage" brings
        a sentence about "emplois" only 0.013 closer)."""
        words = {w for w, _ in q.focus}
        kept = [w for w in re.findall(r"[\w'’\-]+", q.query) if fold(w.lower()) not in words]
        if not words or not kept:
            return False
        without = self.embedder.embed_queries([" ".join(kept)])[0]
        sentence = self._sentence_vectors([candidate.context])[0]
        return float(sentence @ query_vec) - float(sentence @ without) >= FOCUS_PARAPHRASE_GAIN

    def answer(self, q: Question, results: list[ScoredChunk], index: IndexView | None = None) -> Answer:
        """Answer the analysed question ``q`` from ``results``."""
        if not results:
            return abstain(q.text, q.language, results, "nothing retrieved")
        query_vec = self.embedder.embed_queries([q.query])[0]
        ranked = self.score(q, results, index, query_vec)
        if not ranked:
            return abstain(q.text, q.language, results, "no sentence")
        # a year or number the question gives is a requirement, not a preference
        meeting = [c for c in ranked if meets_constraints(q, c)]
        order = meeting or ranked
        corpus = self.corpus_scores(q, index, query_vec)
        judged = first = self._judge(q, order[0], ranked, index, query_vec, corpus)
        # the best sentence is not a confident answer: one nearly as good may be (the sentence of the
        # right sub-case, the second of two close candidates); the certain rules still apply to it, and
        # a certain rule refusing the best sentence ("A Amiens, ..." for Lille) is not overruled
        for other in order[1 : 1 + self.params.alternatives]:
            if (judged.reason is None or not first.reason or not first.reason.startswith(LEARNED_CHECK)
                    or first.candidate.score - other.score > self.params.alternative_margin):
                break
            judged = self._judge(q, other, ranked, index, query_vec, corpus)
        if judged.reason is not None:
            judged = first
        best, previous, evidence, values, reason = judged
        if reason is not None:
            # "typed" is 1 for a question that wants no particular kind of value
            why = explain(reason, q, best, evidence, q.language, unit_missing=not values.get("typed", 1.0))
            return replace(abstain(q.text, q.language, results, reason, why=why, related=best), signals=values)
        second = next((c for c in ranked if c is not best), None)
        used = self._quoted(q, best, previous, second, index)
        antecedent = previous if previous is not None and previous in used and ANAPHORA.match(best.text) else None
        return replace(compose(q.text, q.language, used, short_answer(q, best, antecedent)), signals=values)

    def _quoted(self, q: Question, best: Candidate, previous: Candidate | None, second: Candidate | None,
                index: IndexView | None) -> list[Candidate]:
        """The sentences the answer quotes: the best one; the sentence before it
        when it starts with "ce / il / this"; a whole list when it introduces
        one or is one of its items and several things are asked; a second
        sentence when it scores as well."""
        page_text = index.page_text if index is not None else None
        lead = best if introduces_list(best) else best.lead_in if best.kind == ITEM else None
        if lead is not None and (lead is best or q.plural or LIST_COUNT.search(lead.text)):
            items = list_items(lead, page_text, self.params.max_items)
            if items:
                for item in items:
                    item.score = best.score
                lead.score = best.score
                return [lead, *items]
        used = [previous, best] if previous is not None and ANAPHORA.match(best.text) else [best]
        if (second is not None and best.score - second.score <= self.params.second_sentence_margin
                and second not in used and second.text not in best.text):
            used.append(second)
        # an explanation goes on in the next sentence; a figure, a date or a name is said in one
        antecedent = previous if ANAPHORA.match(best.text) else None
        if self.params.next_sentence and not introduces_list(best) and short_answer(q, best, antecedent) is None:
            following = next_sentence(best, page_text)
            if following is not None and all(c.key != following.key for c in used):
                following.score = best.score
                used.insert(used.index(best) + 1, following)
        return used
