"""Why the assistant refused, in words a person understands.

Each abstention rule, and the learned check, gets a sentence in the
question's language that names what is missing ("Aucun des passages trouvés
ne mentionne « FICOBA ».", "Le passage le plus proche ne donne pas de
durée."), so a person can judge the refusal beside the closest passage.
"""

from __future__ import annotations

import re

from hdf_assistant.analysis import analyze
from hdf_assistant.answer.abstention import missing_names, names_near
from hdf_assistant.answer.candidates import Candidate
from hdf_assistant.answer.evidence import Evidence, idf, mentions, term_match
from hdf_assistant.answer.question import Question

_UNIT_WORDS = {
    "fr": {"money": "de montant", "duration": "de durée", "age": "d'âge", "percent": "de pourcentage",
           "number": "de chiffre", "year": "de date", "place": "de lieu", "org": "de nom d'organisme",
           "person": "de nom de personne"},
    "en": {"money": "amount", "duration": "duration", "age": "age", "percent": "percentage",
           "number": "figure", "year": "date", "place": "place", "org": "organisation name",
           "person": "person's name"},
}
_TEXTS = {
    "fr": {
        "names": "Aucun des passages trouvés ne mentionne {items}.",
        "topic": "Les documents ne parlent nulle part de {items}.",
        "constraint": "Le passage le plus proche ne dit rien pour {items}.",
        "other_name": "Le chiffre du passage le plus proche concerne un autre nom que {items}.",
        "other_place": "Le passage le plus proche concerne {place}, pas {items}.",
        "person": "Le passage le plus proche ne nomme aucune personne.",
        "no_value": "Le passage le plus proche ne donne pas {what}",
        "no_words": "Le passage le plus proche ne parle pas de {items}",
        "unclear": "Le passage le plus proche ne répond pas clairement à la question.",
        "nothing": "Aucun passage n'a été trouvé.",
        "or": " ni ", "subject": "Le passage le plus proche ", "join": " et ",
    },
    "en": {
        "names": "None of the passages found mentions {items}.",
        "topic": "The documents never mention {items}.",
        "constraint": "The closest passage says nothing for {items}.",
        "other_name": "The figure in the closest passage is about another name than {items}.",
        "other_place": "The closest passage is about {place}, not {items}.",
        "person": "The closest passage names no one.",
        "no_value": "The closest passage gives no {what}",
        "no_words": "The closest passage does not mention {items}",
        "unclear": "The closest passage does not clearly answer the question.",
        "nothing": "No passage was found.",
        "or": " or ", "subject": "The closest passage ", "join": " and ",
    },
}


def _quoted(words: list[str], language: str) -> str:
    marks = ("« ", " »") if language == "fr" else ("“", "”")
    shown = [f"{marks[0]}{w}{marks[1]}" for w in dict.fromkeys(words)]
    return _TEXTS[language]["or"].join(shown)


def _words_of(question: str, terms: list[str]) -> list[str]:
    """The question's own words for analyser terms ("chômage", not "chomag")."""
    out = []
    for term in terms:
        for word in re.findall(r"[\w\-]+", question):
            if term in analyze(word):
                out.append(word)
                break
    return out


def _unanswered_words(q: Question, best: Candidate, ev: Evidence) -> list[str]:
    """The question's topic words and names the closest sentence does not hold, rarest first."""
    near = set(best.terms) | set(analyze(best.result.chunk.section or ""))
    named = {t for n in q.names for t in analyze(n)}
    topic = {t for _, t in q.topic} - named
    # ties (words no passage holds) in a fixed order: a set's order changes from one process to the next
    absent = sorted((t for t in topic if not term_match(t, near)),
                    key=lambda t: (-idf(t, ev.document_frequency, ev.n_documents), t))
    words = _words_of(q.text, absent[:2])
    found = names_near(q, ev)
    words += [n for n in q.names if n not in found and not mentions(near, n)][:2]
    return words


def explain(reason: str, q: Question, best: Candidate | None, ev: Evidence | None, language: str,
            unit_missing: bool = False) -> str:
    """One sentence saying which check refused, with the words it concerns."""
    t = _TEXTS.get(language, _TEXTS["fr"])
    rule, _, details = reason.partition(":")
    if best is None or ev is None:
        return t["nothing"]
    if rule == "names_not_mentioned":
        missing = missing_names(q, ev) + [n for n in q.context_names if not mentions(ev.document, n)]
        return t["names"].format(items=_quoted(missing or [details.split(":")[-1].strip()], language))
    if rule == "topic_never_mentioned":
        words = [w for w, term in (q.focus if q.language == "fr" else q.concepts)
                 if ev.document_frequency.get(term, 0) == 0]
        shown = _words_of(q.text, [term for w, term in (q.focus or ()) if w in words]) or words
        return t["topic"].format(items=_quoted(shown or [details.split(":")[-1].strip()], language))
    if rule == "constraint_not_met":
        return t["constraint"].format(items=_quoted([v.strip() for v in details.split(":")[-1].split(",")], language))
    if rule == "attribute_of_other_name":
        if "passage is about" in details:
            place = details.split("passage is about", 1)[1].split(",", 1)[0].strip()
            return t["other_place"].format(place=place, items=_quoted(list(q.names), language))
        return t["other_name"].format(items=_quoted(list(q.names), language))
    if rule == "no_person_named":
        return t["person"]
    parts = []
    if unit_missing:
        kind = q.unit or q.kind
        parts.append(t["no_value"].format(what=_UNIT_WORDS[language if language in _UNIT_WORDS else "fr"].get(
            kind, _UNIT_WORDS["fr"]["number"])))
    words = _unanswered_words(q, best, ev)
    if words:
        clause = t["no_words"].format(items=_quoted(words, language))
        parts.append(clause if not parts else clause.removeprefix(t["subject"]))
    if not parts:
        return t["unclear"]
    return t["join"].join(parts) + "."


__all__ = ["explain"]
