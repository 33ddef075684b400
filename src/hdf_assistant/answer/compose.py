"""How answers read: the short answer first, then the quoted, cited
sentences; the abstention text with the nearest passages."""

from __future__ import annotations

from hdf_assistant.analysis import detect_language
from hdf_assistant.answer.candidates import Candidate
from hdf_assistant.schema import Answer, Citation, ScoredChunk

NO_ANSWER = {
    "fr": "Les documents ne contiennent pas la réponse à cette question.",
    "en": "The documents do not contain the answer to this question.",
}
LEAD = {"fr": "D'après les documents :", "en": "According to the documents:"}
SEE_ALSO = {"fr": "Passages les plus proches (qui ne répondent pas) :", "en": "Closest passages (not an answer):"}
WHY = {"fr": "Pourquoi :", "en": "Why:"}
RELATED = {"fr": "Passage le plus proche (ce n'est pas une réponse, mais il s'en rapproche) :",
           "en": "Closest passage (not an answer, but related):"}


def cite(n: int, candidate: Candidate) -> Citation:
    chunk = candidate.result.chunk
    return Citation(n, chunk.source, chunk.page, candidate.text, round(candidate.score, 4), candidate.start,
                    candidate.end, chunk.section, chunk.ocr)


def abstain(question: str, language: str, results: list[ScoredChunk], reason: str, why: str | None = None,
            related: Candidate | None = None) -> Answer:
    """An answer that says the documents are silent, why (``why``), and the closest passage
    (``related``, not an answer but related); without one, the nearest files as "see also"."""
    text = NO_ANSWER[language]
    if why:
        text += f"\n{WHY[language]} {why}"
    if related is not None:
        marks = ("« ", " »") if language == "fr" else ("“", "”")
        quote = " ".join(related.text.split())
        text += f"\n{RELATED[language]} {marks[0]}{quote}{marks[1]} ({related.result.chunk.where})"
    elif results:
        names = []
        for r in results[:3]:
            where = r.chunk.where
            if where not in names:
                names.append(where)
        text += f"\n{SEE_ALSO[language]} " + " ; ".join(names)
    return Answer(question, text, abstained=True, abstain_reason=reason, why=why,
                  related=cite(0, related) if related is not None else None)  # n = 0: a reference, not a citation


def compose(question: str, language: str, used: list[Candidate], short: str | None) -> Answer:
    """"**1791**" on its own line when there is a short answer, then
    "D'après les documents : « ... » [1] « ... » [2]"."""
    citations = [cite(i, c) for i, c in enumerate(used, start=1)]
    quoted = " ".join(f"« {' '.join(c.text.split())} » [{c.n}]" for c in citations)
    text = f"{LEAD[language]} {quoted}"
    if short:
        text = f"**{short}**\n\n{text}"
    return Answer(question, text, abstained=False, citations=citations, short_answer=short)


def quote_best_passage(question: str, results: list[ScoredChunk]) -> Answer:
    """The best passage, quoted and cited as [1] (no model needed)."""
    language = detect_language(question)
    if not results:
        return abstain(question, language, results, "nothing retrieved")
    r = results[0]
    citation = Citation(1, r.chunk.source, r.chunk.page, r.chunk.text, round(r.score, 4), r.chunk.start, r.chunk.end,
                        r.chunk.section, r.chunk.ocr)
    return Answer(question, f"« {r.chunk.text.strip()} » [1] ({citation.where})", False, [citation])
