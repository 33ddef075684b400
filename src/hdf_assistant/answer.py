"""Ranked chunks -> a short, cited, extractive answer (or an abstention).

Sentences of the best passages are scored against the question: semantic
similarity with the same embedding model, overlap of the question's terms,
and whether the sentence holds the expected kind of answer (a number for
"combien / how many", a year for "quand / when", a place for "où / where",
an organisation for "quelle entreprise / which company"). The answer leads
with the best sentence(s), quoted, each followed by its marker [n]; only the
sentences used are cited, with their exact character span.

The assistant abstains when the evidence is weak: when a name the question
asks about (a place, an organisation) appears nowhere in the documents the
evidence comes from, when the question's distinctive terms are missing, or
when no sentence is similar enough to the question.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hdf_assistant.analysis import analyze, detect_language, fold
from hdf_assistant.chunking import split_sentences
from hdf_assistant.schema import Answer, Citation, ScoredChunk

NO_ANSWER = {
    "fr": "Les documents ne contiennent pas la réponse à cette question.",
    "en": "The documents do not contain the answer to this question.",
}
LEAD = {"fr": "D'après les documents :", "en": "According to the documents:"}
SEE_ALSO = {"fr": "Passages les plus proches (qui ne répondent pas) :", "en": "Closest passages (not an answer):"}


class SentenceEmbedder(Protocol):
    def embed_passages(self, texts: list[str], progress: None = None) -> np.ndarray: ...

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class AnswerParams:
    """Weights and thresholds, calibrated on data (benchmarks/README.md)."""

    passages: int = 5  # best chunks whose sentences are candidates
    lexical_weight: float = 0.25
    type_weight: float = 0.06
    #: penalty for a sentence without a number (year) when one is asked for
    missing_type_penalty: float = 0.1
    #: penalty for very short sentences (headings, list stubs)
    short_penalty: float = 0.1
    short_words: int = 5
    rank_weight: float = 0.03
    #: abstain when the best sentence's similarity is below this
    min_similarity: float = 0.75
    #: abstain when less than this share (IDF-weighted) of the question's
    #: terms occurs in the evidence document
    min_coverage: float = 0.5
    #: also quote the second sentence when it scores this close to the first
    second_sentence_margin: float = 0.02


def answer_params_for(model_id: str) -> AnswerParams:
    """Thresholds for a model: e5 cosines of related texts sit around 0.8,
    most other sentence-transformers models spread much lower."""
    if "e5" in model_id.lower():
        return AnswerParams()
    return AnswerParams(min_similarity=0.25)


# -- question analysis ---------------------------------------------------------
_TYPES = [
    ("year", re.compile(r"\bquand\b|en quelle ann[ée]e|depuis quelle ann[ée]e|\bwhen\b|what year|which year|since when", re.I)),
    ("number", re.compile(
        r"\bcombien\b|how many|how much|\bquel(?:le)?s? (?:est |sont )?(?:le |la |les )?(?:nombre|taux|part|pourcentage|montant|"
        r"proportion|chiffre|effectif|budget|co[uû]t|prix|plafond|maximum|minimum|montant)|"
        r"what (?:is the )?(?:share|percentage|proportion|rate|number|amount|maximum|minimum|cap|limit|size|total)|"
        r"\bquel taux\b|\bquelle part\b|\bnombre de\b|\bhow (?:long|old|big|large)\b", re.I)),
    ("place", re.compile(r"\bo[uù]\b|\bwhere\b|quelle ville|which city|in which (?:city|town|region)|dans quelle", re.I)),
    ("org", re.compile(
        r"quel(?:le)?s? (?:\w+ )?(?:entreprises?|soci[ée]t[ée]s?|organisations?|organismes?|structures?|p[ôo]les?|"
        r"associations?|acteurs?|groupes?|incubateurs?|centres?|clusters?|laboratoires?|[ée]diteurs?)\b|"
        r"(?:which|what) (?:\w+ ){0,2}(?:company|companies|firms?|organi[sz]ations?|centres?|centers?|hubs?|"
        r"clusters?|groups?|labs?|laboratory|publishers?)\b", re.I)),
    ("person", re.compile(r"\bqui\b(?! est)|\bwho\b", re.I)),
]
_NUMBER = re.compile(r"\d")
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_PROPER = re.compile(r"(?:(?<=\b[lLdD]['’])|(?<=\b[qQ]u['’])|(?<![\w'’]))([A-ZÀ-ÖØ-Þ][\w\-]*[\w])")
_QUESTION_WORDS = {
    "quel", "quelle", "quels", "quelles", "combien", "comment", "pourquoi", "qui", "que", "quoi", "ou", "où",
    "what", "which", "who", "where", "when", "how", "why", "is", "are", "does", "do", "et", "and", "le", "la",
    "les", "l", "d", "de", "des", "en", "dans", "a", "à", "au", "aux", "the", "in", "of", "un", "une",
    "est", "sont", "parle", "parle-moi", "tell", "me", "about", "y", "il", "elle", "son", "sa", "ses",
}


#: Words that describe the kind of answer rather than the topic ("en quelle
#: année", "quel rang"): the documents need not contain them.
_FRAME_WORDS = {
    "annee", "annees", "an", "ans", "date", "jour", "mois", "ville", "villes", "lieu", "endroit", "nombre",
    "quantite", "rang", "position", "classement", "montant", "prix", "cout", "part", "pourcentage",
    "proportion", "nom", "noms", "personne", "personnes", "gens", "exemple", "exemples", "chose", "choses",
    "type", "types", "sorte", "maniere", "facon", "quoi", "plan", "prevoit", "veut", "faut", "peut", "doit",
    "difference", "differences", "consequence", "consequences", "effet", "effets", "condition", "conditions",
    "demarche", "demarches", "regle", "regles", "droit", "droits", "obligation", "obligations", "modalites",
    "avantage", "avantages", "role", "definition", "fonctionnement", "formalites", "etapes", "solution",
    "solutions", "recours", "interet", "objectif", "objectifs", "but", "sens", "signification",
}
_DETERMINERS = {
    "le", "la", "les", "l", "du", "de", "des", "d", "un", "une", "au", "aux", "son", "sa", "ses", "leur",
    "leurs", "ce", "cet", "cette", "ces", "quel", "quelle", "quels", "quelles", "notre", "votre",
}
_INVERSION = re.compile(r"-(?:t-)?(?:il|elle|ils|elles|on)$")


def topic_terms(question: str) -> list[tuple[str, str]]:
    """(word, analyser term) pairs of a French question's topic words
    (frame words such as "année" or "rang" left out)."""
    pairs = []
    for word in re.findall(r"[\w\-]+", fold(question.lower()).replace("'", " ").replace("’", " ")):
        word = _INVERSION.sub("", word)
        if word in _FRAME_WORDS:
            continue
        for term in analyze(word):
            pairs.append((word, term))
    return pairs


def noun_terms(question: str) -> list[tuple[str, str]]:
    """Topic words in a noun position (after an article or a determiner:
    "le président", "du chômage", "d'affaires"), with their terms."""
    words = [_INVERSION.sub("", w) for w in re.findall(r"[\w]+", fold(question.lower()))]
    pairs: list[tuple[str, str]] = []
    for before, word in zip(words, words[1:]):
        if before in _DETERMINERS and word not in _FRAME_WORDS and len(word) > 2:
            pairs.extend((word, term) for term in analyze(word))
    return pairs


#: English words for things people commonly ask about, in French: an English
#: question about one of them is checked like a French one (is it mentioned
#: at all?), since English words cannot be looked up in French text.
_ENGLISH_CONCEPTS = {
    "president": "président", "presidents": "président", "mayor": "maire", "mayors": "maire",
    "director": "directeur", "ceo": "PDG", "chairman": "président", "founder": "fondateur",
    "founders": "fondateur", "minister": "ministre", "prefect": "préfet",
    "population": "population", "inhabitants": "habitants", "residents": "habitants",
    "unemployment": "chômage", "jobless": "chômage", "gdp": "PIB", "budget": "budget",
    "turnover": "affaires", "revenue": "affaires", "revenues": "affaires", "salary": "salaire",
    "salaries": "salaire", "wage": "salaire", "wages": "salaire", "students": "étudiants",
    "student": "étudiant", "university": "université", "universities": "université",
    "temperature": "température", "weather": "météo", "climate": "climat", "price": "prix",
    "prices": "prix", "ticket": "ticket", "tax": "impôt", "taxes": "impôt", "election": "élection",
    "elections": "élection", "hospital": "hôpital", "hospitals": "hôpital", "football": "football",
    "club": "club", "museum": "musée", "crime": "criminalité", "tourists": "touristes",
    "airport": "aéroport", "train": "train", "metro": "métro", "subway": "métro",
}


def english_concepts(question: str) -> list[tuple[str, str]]:
    """(English word, analyser term of its French translation) for the
    glossary words of an English question."""
    pairs: list[tuple[str, str]] = []
    for word in re.findall(r"[a-z]+", question.lower()):
        if word in _ENGLISH_CONCEPTS:
            pairs.extend((word, term) for term in analyze(_ENGLISH_CONCEPTS[word]))
    return pairs


def answer_type(question: str) -> str:
    """The kind of answer a question expects: year, number, place, org, person or other."""
    for name, pattern in _TYPES:
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
    names = []
    for match in _PROPER.finditer(question):
        word = match.group(1)
        if fold(word.lower()) in _QUESTION_WORDS or len(word) < 2:
            continue
        looks_like_name = word.isupper() or any(ch.isupper() for ch in word[1:])
        if _clause_start(question, match.start()) and not looks_like_name:
            continue
        names.append(word)
    return names


def _term_match(term: str, terms: set[str]) -> bool:
    """Exact term, one that starts like it ("lill" / "lilloi"), or one that
    shares a long beginning with it ("plafond" / "plafonne")."""
    if term in terms:
        return True
    if len(term) < 4:
        return False
    for t in terms:
        if len(t) < 4:
            continue
        if t.startswith(term) or term.startswith(t):
            return True
        if len(term) >= 6 and len(t) >= 6 and t[:5] == term[:5] and t[:6] == term[:6]:
            return True
    return False


def _mentions(doc_terms: set[str], name: str) -> bool:
    """True when one of the name's words occurs ("Île-de-France" / "France")."""
    terms = [t for t in analyze(name) if len(t) >= 3 and not t.isdigit()]
    return not terms or any(_term_match(t, doc_terms) for t in terms)


# -- sentences -----------------------------------------------------------------
@dataclass
class Candidate:
    result: ScoredChunk
    rank: int
    start: int  # span in the document's text
    end: int
    text: str
    #: what is compared with the question: the sentence, after the lead-in
    #: of its list when it is a list item ("... en quatre axes : - Développer ...")
    context: str = ""
    score: float = 0.0
    similarity: float = 0.0


_BULLET = re.compile(r"^\s*(?:[-•*–—▪●]|\d+[.)])\s")


def candidate_sentences(
    results: list[ScoredChunk],
    passages: int,
    page_text: Callable[[str, int | None], str] | None = None,
) -> list[Candidate]:
    """Whole sentences of the best chunks (a sentence cut by a chunk boundary
    is taken whole from the document when ``page_text`` gives it), without the
    repeats that overlapping chunks bring."""
    seen: set[tuple[str, int | None, int]] = set()
    out = []
    for rank, result in enumerate(results[:passages], start=1):
        chunk = result.chunk
        text_of_page = page_text(chunk.source, chunk.page) if page_text else ""
        if text_of_page[chunk.start : chunk.end] == chunk.text:
            base, offset = text_of_page, 0
            spans = [sp for sp in split_sentences(base) if sp.end > chunk.start and sp.start < chunk.end]
        else:
            base, offset = chunk.text, chunk.start
            spans = split_sentences(base)
        lead_in = ""
        for span in spans:
            text = base[span.start : span.end]
            is_item = bool(_BULLET.match(text))
            context = f"{lead_in} {text}" if is_item and lead_in else text
            if text.rstrip().endswith(":"):
                lead_in = text
            elif not is_item:
                lead_in = ""
            key = (chunk.source, chunk.page, offset + span.start)
            if key in seen or len(text) < 3:
                continue
            seen.add(key)
            out.append(Candidate(result, rank, offset + span.start, offset + span.end, text, context))
    return out


_ANAPHORA = re.compile(
    r"^(?:ce|cet|cette|ces|celui|celle|ceux|il|elle|ils|elles|celui-ci|celle-ci|"
    r"this|these|it|they|he|she)\b",
    re.IGNORECASE,
)


def _previous_sentence(candidate: Candidate, candidates: list[Candidate]) -> Candidate | None:
    """The sentence just before ``candidate`` in the same document, if it is a candidate."""
    chunk = candidate.result.chunk
    before = [
        c for c in candidates
        if c.result.chunk.source == chunk.source and c.result.chunk.page == chunk.page and c.end <= candidate.start
    ]
    return max(before, key=lambda c: c.end) if before else None


def _type_match(kind: str, sentence: str, question: str) -> float:
    if kind == "number":
        return 1.0 if _NUMBER.search(sentence) else 0.0
    if kind == "year":
        return 1.0 if _YEAR.search(sentence) else 0.0
    if kind in ("place", "org", "person"):
        asked = {fold(n.lower()) for n in question_entities(question)}
        names = [n for n in question_entities(sentence) if fold(n.lower()) not in asked]
        return 1.0 if names else 0.0
    return 0.0


def _idf(term: str, document_frequency: dict[str, int], n_docs: int) -> float:
    return math.log(1 + (n_docs + 1) / (document_frequency.get(term, 0) + 0.5))


# -- composing ------------------------------------------------------------------
def _cite(n: int, candidate: Candidate, score: float) -> Citation:
    chunk = candidate.result.chunk
    return Citation(n, chunk.source, chunk.page, candidate.text, round(score, 4), candidate.start, candidate.end,
                    chunk.section)


def abstain(question: str, language: str, results: list[ScoredChunk], reason: str) -> Answer:
    """An answer that says the documents are silent; nearest passages as "see also"."""
    text = NO_ANSWER[language]
    if results:
        names = []
        for r in results[:3]:
            where = r.chunk.where
            if where not in names:
                names.append(where)
        text += f"\n{SEE_ALSO[language]} " + " ; ".join(names)
    answer = Answer(question, text, abstained=True)
    answer.abstain_reason = reason
    return answer


class ExtractiveAnswerer:
    """Selects and quotes the sentences that answer the question."""

    mode = "extractive"

    def __init__(self, embedder: SentenceEmbedder, params: AnswerParams | None = None) -> None:
        self.embedder = embedder
        self.params = params or AnswerParams()
        self._cache: dict[str, np.ndarray] = {}

    def clear_cache(self) -> None:
        """Forget the remembered sentence vectors."""
        self._cache.clear()

    def _sentence_vectors(self, texts: list[str]) -> np.ndarray:
        """Passage vectors of candidate sentences; the ones seen before are not embedded again."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, vector in zip(missing, self.embedder.embed_passages(missing)):
                if len(self._cache) >= 50_000:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[text] = vector
        return np.vstack([self._cache[t] for t in texts])

    def answer(
        self,
        question: str,
        results: list[ScoredChunk],
        search_query: str | None = None,
        document_text: dict[str, str] | None = None,
        page_text: Callable[[str, int | None], str] | None = None,
        document_frequency: dict[str, int] | None = None,
        n_documents: int = 1,
    ) -> Answer:
        """Answer ``question`` from ``results``.

        ``search_query`` is the question completed from the conversation;
        ``document_text`` maps each source to its full text (to check that the
        names asked about occur there); ``document_frequency`` maps analyser
        terms to the number of chunks containing them.
        """
        p = self.params
        language = detect_language(question)
        query = search_query or question
        if not results:
            return abstain(question, language, results, "nothing retrieved")
        candidates = candidate_sentences(results, p.passages, page_text)
        if not candidates:
            return abstain(question, language, results, "no sentence")

        query_vec = self.embedder.embed_queries([query])[0]
        sentence_vecs = self._sentence_vectors([c.context for c in candidates])
        similarities = sentence_vecs @ query_vec
        query_terms = set(analyze(query, detect_language(query)))
        kind = answer_type(question)
        for cand, sim in zip(candidates, similarities):
            terms = set(analyze(cand.context))
            overlap = sum(_term_match(t, terms) for t in query_terms) / len(query_terms) if query_terms else 0.0
            typed = _type_match(kind, cand.text, question)
            cand.similarity = float(sim)
            cand.score = (
                float(sim)
                + p.lexical_weight * overlap
                + p.type_weight * typed
                + p.rank_weight / cand.rank
            )
            if kind in ("number", "year") and not typed:
                cand.score -= p.missing_type_penalty
            if len(cand.text.split()) < p.short_words:
                cand.score -= p.short_penalty
        ranked = sorted(candidates, key=lambda c: -c.score)
        best = ranked[0]
        previous = _previous_sentence(best, candidates)

        # 1. names asked about must occur: the question's own in the evidence
        #    (sentence and what introduces it), the conversation's in its document
        doc_terms = set(analyze((document_text or {}).get(best.result.chunk.source, best.result.chunk.text)))
        near_terms = set(analyze(" ".join([best.result.chunk.text, best.context, previous.text if previous else ""])))
        missing = [n for n in question_entities(question) if not _mentions(near_terms, n)]
        missing += [n for n in question_entities(query) if n not in question and not _mentions(doc_terms, n)]
        if missing:
            return abstain(question, language, results, f"not mentioned: {', '.join(missing)}")
        # 2. a topic word of a French question that no document contains at all
        #    means the documents are about something else
        if document_frequency is not None:
            asked = noun_terms(question) if language == "fr" else english_concepts(question)
            absent = [w for w, t in asked
                      if document_frequency.get(t, 0) == 0 and not _term_match(t, doc_terms)]
            if absent:
                return abstain(question, language, results, f"never mentioned: {', '.join(absent)}")
        # 3. the question's distinctive terms must be covered
        topic = {t for _, t in noun_terms(query) + noun_terms(question)} if language == "fr" else set()
        if document_frequency is not None and len(topic) >= 3:
            weights = {t: _idf(t, document_frequency, n_documents) for t in topic}
            covered = sum(w for t, w in weights.items() if _term_match(t, doc_terms)) / sum(weights.values())
            if covered < p.min_coverage:
                return abstain(question, language, results, f"coverage {covered:.2f}")
        # 4. some sentence must be close enough to the question
        if best.similarity < p.min_similarity:
            return abstain(question, language, results, f"similarity {best.similarity:.3f}")

        used = [previous, best] if previous is not None and _ANAPHORA.match(best.text) else [best]
        if len(ranked) > 1:
            second = ranked[1]
            if (best.score - second.score <= p.second_sentence_margin and second not in used
                    and second.text not in best.text):
                used.append(second)
        citations = [_cite(i, c, c.score) for i, c in enumerate(used, start=1)]
        quoted = " ".join(f"« {' '.join(c.text.split())} » [{c.n}]" for c in citations)
        return Answer(question, f"{LEAD[language]} {quoted}", abstained=False, citations=citations)


def quote_best_passage(question: str, results: list[ScoredChunk]) -> Answer:
    """The best passage, quoted and cited as [1] (no model needed)."""
    language = detect_language(question)
    if not results:
        return abstain(question, language, results, "nothing retrieved")
    r = results[0]
    citation = Citation(1, r.chunk.source, r.chunk.page, r.chunk.text, round(r.score, 4), r.chunk.start, r.chunk.end,
                        r.chunk.section)
    return Answer(question, f"« {r.chunk.text.strip()} » [1] ({citation.where})", False, [citation])
