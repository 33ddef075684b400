"""Ranked chunks -> Answer with citations.

For now the answer quotes the best passage; sentence selection, abstention
and generation build on this module later.
"""

from __future__ import annotations

from hdf_assistant.schema import Answer, Citation, ScoredChunk

NO_ANSWER_FR = "Je ne trouve pas la réponse dans les documents."


def cite(results: list[ScoredChunk]) -> list[Citation]:
    """Citations for ranked chunks, numbered from 1, best first."""
    return [
        Citation(
            n=i,
            source=r.chunk.source,
            page=r.chunk.page,
            text=r.chunk.text,
            score=round(r.score, 4),
            start=r.chunk.start,
            end=r.chunk.end,
        )
        for i, r in enumerate(results, start=1)
    ]


def _where(citation: Citation) -> str:
    return f"{citation.source}, p. {citation.page}" if citation.page else citation.source


def quote_best_passage(question: str, results: list[ScoredChunk]) -> Answer:
    """The best passage, quoted and cited as [1]; abstain when nothing was found."""
    if not results:
        return Answer(question, NO_ANSWER_FR, abstained=True)
    citations = cite(results)
    best = citations[0]
    text = f"« {best.text.strip()} » [1] ({_where(best)})"
    return Answer(question, text, abstained=False, citations=citations)
