"""Candidate answers: the whole sentences, list items and table rows of the
best passages, each with its exact place in its document.

A table row is its own candidate ("Année: 2020 | Apprenants: 1 050", its
column headers included), never joined to the table's title; a list item
knows the sentence that introduces its list, and a heading is marked as
one, so that it is not quoted as if it were an answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hdf_assistant.answer.lexicon import ANAPHORA, BULLET, TABLE_ROW
from hdf_assistant.ingest.chunking import Span, split_sentences
from hdf_assistant.schema import ScoredChunk

#: sentence kinds
SENTENCE, ITEM, ROW, HEADING = "sentence", "item", "row", "heading"


@dataclass
class Candidate:
    result: ScoredChunk
    rank: int
    start: int  # span in the document's (or the page's) text
    end: int
    text: str
    #: what is compared with the question: the sentence, after the lead-in
    #: of its list when it is a list item ("... en quatre axes : - Développer ...")
    context: str = ""
    kind: str = SENTENCE
    #: the sentence that introduces this item's list
    lead_in: Candidate | None = None
    score: float = 0.0
    similarity: float = 0.0
    #: what each part of the score came from (for the abstention model and debugging)
    signals: dict[str, float] = field(default_factory=dict)
    #: analyser terms of ``context`` (set when scored)
    terms: frozenset[str] = frozenset()

    @property
    def key(self) -> tuple[str, int | None, int]:
        chunk = self.result.chunk
        return chunk.source, chunk.page, self.start

    def same_place(self, other: Candidate) -> bool:
        a, b = self.result.chunk, other.result.chunk
        return (a.source, a.page) == (b.source, b.page)


def _whole_line(base: str, start: int, end: int) -> bool:
    """The sentence fills its line (spaces and tabs around it aside)."""
    before = base[:start].rstrip(" \t\u00a0")
    after = base[end:].lstrip(" \t\u00a0")
    return (not before or before.endswith("\n")) and (not after or after.startswith("\n"))


def _kind(base: str, start: int, end: int, text: str, after_lead_in: bool) -> str:
    """What a sentence is. After a lead-in ("Votre bail peut être résilié :"),
    the lines that follow are items even without bullets, as long as they
    read like items (four words or more, not a new lead-in)."""
    if BULLET.match(text):
        return ITEM
    if TABLE_ROW.match(text):
        return ROW
    whole_line = _whole_line(base, start, end) and "\n" not in text
    if whole_line and text.rstrip().endswith("?"):
        return HEADING  # "Comment faire la demande ?": a question is a heading, never an answer
    if after_lead_in and whole_line and len(text.split()) >= 4 and not text.rstrip().endswith(":"):
        return ITEM
    if whole_line and text.rstrip()[-1:] not in ".!?:;…)»\"" and len(text.split()) <= 16:
        return HEADING
    return SENTENCE


def _rows_apart(base: str, spans: list[Span]) -> list[Span]:
    """Sentences with a table row on one of their lines cut at their line
    breaks: a row stands alone, never joined to the title above it."""
    out = []
    for span in spans:
        text = base[span.start : span.end]
        lines = text.split("\n")
        if len(lines) > 1 and any(TABLE_ROW.match(line.strip()) for line in lines):
            position = span.start
            for line in lines:
                stripped = line.strip()
                if stripped:
                    first = position + line.index(stripped)
                    out.append(Span(first, first + len(stripped)))
                position += len(line) + 1
        else:
            out.append(span)
    return out


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
        lead_in: Candidate | None = None
        before: Candidate | None = None
        for span in _rows_apart(base, spans):
            text = base[span.start : span.end]
            kind = _kind(base, span.start, span.end, text, lead_in is not None)
            candidate = Candidate(result, rank, offset + span.start, offset + span.end, text, text, kind)
            if kind == ITEM and lead_in is not None:
                candidate.lead_in = lead_in
                candidate.context = f"{lead_in.text} {text}"
            elif before is not None and ANAPHORA.match(text):
                # "Elle coûte 49 € par an.": compared with the question together with what "elle" is
                candidate.context = f"{before.text} {text}"
            before = candidate
            if text.rstrip().endswith(":") and kind != ROW:
                lead_in = candidate
            elif kind != ITEM:
                lead_in = None
            if candidate.key in seen or len(text) < 3:
                continue
            seen.add(candidate.key)
            out.append(candidate)
    return out


def _after(candidate: Candidate, page_text: Callable[[str, int | None], str] | None,
           window: int | None = None) -> tuple[str, list[Span]]:
    """The text of the candidate's document (page) and the sentence spans that
    follow it there (within ``window`` characters); none when the text is not at hand."""
    chunk = candidate.result.chunk
    text = page_text(chunk.source, chunk.page) if page_text else ""
    if text[candidate.start : candidate.end] != candidate.text:
        return text, []
    limit = None if window is None else min(len(text), candidate.end + window)
    return text, split_sentences(text, start=candidate.end, limit=limit)


def list_items(lead_in: Candidate, page_text: Callable[[str, int | None], str] | None, limit: int = 8) -> list[
        Candidate]:
    """The items of the list ``lead_in`` introduces, read from its document, at most ``limit``."""
    text, spans = _after(lead_in, page_text)
    items: list[Candidate] = []
    for span in spans:
        sentence = text[span.start : span.end]
        if len(items) >= limit or _kind(text, span.start, span.end, sentence, True) != ITEM:
            break
        items.append(Candidate(lead_in.result, lead_in.rank, span.start, span.end, sentence,
                               f"{lead_in.text} {sentence}", ITEM, lead_in))
    return items


def next_sentence(candidate: Candidate, page_text: Callable[[str, int | None], str] | None) -> Candidate | None:
    """The sentence that follows ``candidate`` in its document, unless it is
    a heading, a table row or a list item."""
    text, spans = _after(candidate, page_text, window=2000)
    if not spans:
        return None
    span = spans[0]
    sentence = text[span.start : span.end]
    if _kind(text, span.start, span.end, sentence, False) != SENTENCE:
        return None
    return Candidate(candidate.result, candidate.rank, span.start, span.end, sentence, sentence)


def previous_sentence(candidate: Candidate, candidates: list[Candidate]) -> Candidate | None:
    """The sentence just before ``candidate`` in the same document, if it is a candidate."""
    before = [c for c in candidates if c.same_place(candidate) and c.end <= candidate.start]
    return max(before, key=lambda c: c.end) if before else None
