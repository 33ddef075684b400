"""Documents -> chunks: French-aware sentence splitting and packing.

Sentences end at ``.``, ``!``, ``?``, ``…`` or a line break, except after a
known abbreviation ("M.", "Mme.", "cf.", "p.", "n°"), an initial ("J."), or
inside a number ("2.7", "1.791"). Chunks are made of whole sentences up to a
size in characters; a sentence longer than that is cut between words, never
inside "d'ailleurs", "6 000 €" or "2,7 %". Every chunk keeps its exact
character span in the document's text, so ``text[start:end] == chunk.text``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from hdf_assistant.analysis import lexicon
from hdf_assistant.schema import Chunk, SourceDocument

#: Bump when the splitting rules change: the manifest records it, and an
#: index built with other rules must be rebuilt. (3: an over-long sentence
#: is cut at any space rather than exceed the size.)
SPLITTER_VERSION = 3

_ABBREVIATIONS = lexicon().words("abbreviations")
#: A line at least this long that ends inside a sentence was wrapped, not ended.
_WRAP_MIN_LINE = 60
_BULLET = re.compile(r"\s*(?:[-•*–—▪●]|\d+[.)]\s)")

# Candidate ends: terminal punctuation (possibly repeated, possibly followed
# by closing quotes/brackets) then whitespace; or a line break.
_END = re.compile(r"(?:[.!?…]+[»”\"')\]]*(?=\s))|\n")
_WORD_BEFORE = re.compile(r"([\w.\-’']+)$")
#: longer than any abbreviation: a longer word's last characters are no abbreviation either
_WORD_WINDOW = 64


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the '.' at ``dot`` ends an abbreviation or an initial."""
    # only the word just before the dot matters: look at a short window, not the whole text
    # (searching from 0 made sentence splitting quadratic in the length of a page)
    match = _WORD_BEFORE.search(text, max(0, dot - _WORD_WINDOW), dot)
    if not match:
        return False
    word = match.group(1).lower().rstrip(".")
    if word in _ABBREVIATIONS:
        return True
    # A single capital letter: an initial ("J. Dupont"), or "J.-C."
    return len(word) == 1 and word.isalpha() and text[dot - 1].isupper()


def _is_wrapped_line(text: str, newline: int) -> bool:
    """True when the line break at ``newline`` only wraps a sentence: a long
    line ending on a word or comma, followed by a line that is no list item."""
    line_start = text.rfind("\n", 0, newline) + 1
    line = text[line_start:newline].rstrip()
    if len(line) < _WRAP_MIN_LINE or not (line[-1].isalnum() or line[-1] in ",;’'-"):
        return False
    if " | " in line:  # a table row: one row, one line
        return False
    following = text[newline + 1 : newline + 80]
    if not following.strip() or following.startswith("\n") or _BULLET.match(following):
        return False
    return True


def split_sentences(text: str, offset: int = 0, limit: int | None = None, start: int = 0) -> list[Span]:
    """Sentence spans of ``text[start:limit]`` (whitespace trimmed, never empty)."""
    spans: list[Span] = []
    end_limit = len(text) if limit is None else limit
    for match in _END.finditer(text, start, end_limit):
        stop = match.end()
        if match.group() == "\n":
            if _is_wrapped_line(text, match.start()):
                continue
        else:
            if match.group().startswith(".") and len(match.group()) == 1 and _is_abbreviation(text, match.start()):
                continue
            nxt = text[stop : stop + 3].lstrip()
            # "... suivi de minuscules" is not a sentence end, except after ! ? …
            if nxt and nxt[0].islower() and match.group()[0] == ".":
                continue
        _append_trimmed(spans, text, start, stop, offset)
        start = stop
    _append_trimmed(spans, text, start, end_limit, offset)
    return spans


def _append_trimmed(spans: list[Span], text: str, start: int, stop: int, offset: int) -> None:
    while start < stop and text[start].isspace():
        start += 1
    while stop > start and text[stop - 1].isspace():
        stop -= 1
    if stop > start:
        spans.append(Span(start + offset, stop + offset))


_BREAKABLE_SPACE = re.compile(r"\s+")


def _break_points(text: str, span: Span) -> list[int]:
    """Positions where an over-long sentence may be cut: spaces that do not
    sit inside a number ("6 000") or before a unit ("2,7 %", "6 000 €")."""
    points = []
    for match in _BREAKABLE_SPACE.finditer(text, span.start, span.end):
        before = text[match.start() - 1] if match.start() > 0 else ""
        after = text[match.end()] if match.end() < len(text) else ""
        if before.isdigit() and (after.isdigit() or after in "%€$£‰"):
            continue
        if after in "%€$£‰:;!?»":  # French typography puts a space before these
            continue
        if before == "«":
            continue
        points.append(match.start())
    return points


def _cut_long(text: str, span: Span, size: int) -> list[Span]:
    """Cut one sentence longer than ``size`` at word boundaries: preferably
    not inside a figure ("6 000 €", "2,7 %"), but at any space rather than
    exceed the size; a piece is longer than ``size`` only when it is one word
    with no space to cut at."""
    pieces: list[Span] = []
    start = span.start
    preferred = _break_points(text, span)
    spaces = [m.start() for m in _BREAKABLE_SPACE.finditer(text, span.start, span.end)]
    while span.end - start > size:
        window = [p for p in preferred if start < p <= start + size] or [p for p in spaces if start < p <= start + size]
        cut = window[-1] if window else next((p for p in spaces if p > start), span.end)
        pieces.append(Span(start, cut))
        start = cut
        while start < span.end and text[start].isspace():
            start += 1
    if start < span.end:
        pieces.append(Span(start, span.end))
    return pieces


def chunk_spans(text: str, size: int, overlap: int = 0) -> list[Span]:
    """Pack whole sentences into spans of at most ``size`` characters.

    ``overlap`` sentences from the end of a chunk start the next one (never
    so many that the chunk would make no progress).
    """
    chunks: list[Span] = []
    start = 0
    # a form feed separates blocks (a table, the prose) that never share a chunk
    for block_end in [m.start() for m in re.finditer("\f", text)] + [len(text)]:
        chunks.extend(_pack(text, split_sentences(text[:block_end], limit=block_end, start=start), size, overlap))
        start = block_end + 1
    return chunks


def _pack(text: str, sentences: list[Span], size: int, overlap: int) -> list[Span]:
    units: list[Span] = []
    for sentence in sentences:
        if sentence.end - sentence.start > size:
            units.extend(_cut_long(text, sentence, size))
        else:
            units.append(sentence)
    chunks: list[Span] = []
    i = 0
    while i < len(units):
        j = i + 1
        while j < len(units) and units[j].end - units[i].start <= size:
            j += 1
        chunks.append(Span(units[i].start, units[j - 1].end))
        if j >= len(units):
            break
        i = max(i + 1, j - overlap)
    return chunks


def chunk_id(source: str, file_hash: str, page: int | None, span: Span) -> str:
    """Stable id of a chunk: same file name, content, page and span -> same id
    (two files with the same content keep distinct chunks)."""
    key = f"{source}:{file_hash}:{page or 0}:{span.start}:{span.end}"
    return hashlib.sha1(key.encode()).hexdigest()[:20]


def chunk_document(document: SourceDocument, size: int, overlap: int = 0) -> list[Chunk]:
    """Chunks of one document, each with its exact span."""
    return [
        Chunk(
            id=chunk_id(document.source, document.file_hash, document.page, span),
            text=document.text[span.start : span.end],
            source=document.source,
            page=document.page,
            start=span.start,
            end=span.end,
            file_hash=document.file_hash,
            section=section_at(document.headings, span.start),
            ocr=document.ocr,
        )
        for span in chunk_spans(document.text, size, overlap)
    ]


def section_at(headings: tuple[tuple[int, str], ...], offset: int) -> str | None:
    """The heading of the section that ``offset`` falls in."""
    current = None
    for start, heading in headings:
        if start > offset:
            break
        current = heading
    return current


#: Bump when what :func:`document_lead` takes from a file changes: indexes
#: whose document vectors were made another way get new ones on refresh.
DOCUMENT_VECTOR_VERSION = 1
LEAD_SENTENCES = 3
LEAD_CHARS = 400


def document_lead(text: str) -> str:
    """What a whole file is about: its first sentences (its title and
    opening), at most :data:`LEAD_SENTENCES` of them and :data:`LEAD_CHARS`
    characters. Embedded once per file, it gives every passage of the file a
    document score: a passage deep in a fiche ("Le délai est de 2 mois.") is
    then found by a question about the fiche's subject (benchmarks/README.md)."""
    spans = split_sentences(text)[:LEAD_SENTENCES]
    return " ".join(" ".join(text[s.start : s.end].split()) for s in spans)[:LEAD_CHARS].strip()
