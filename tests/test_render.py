"""One way to say where a passage is, in every output; HTML that escapes what documents contain."""

from __future__ import annotations

from hdf_assistant.schema import Answer, Chunk, Citation, ScoredChunk, place
from hdf_assistant.web.render import doc_link, document_page, sources_html


def test_place_names_file_page_and_section_when_known() -> None:
    assert place("rapport.pdf", 3, "Chiffres clés") == "rapport.pdf, p. 3, Chiffres clés"
    assert place("notes.txt") == "notes.txt"
    assert place("notes.txt", None, "Contexte") == "notes.txt, Contexte"
    chunk = Chunk("c1", "54 formations.", "rapport.pdf", 3, 10, 24, "h", "Chiffres clés")
    citation = Citation(1, "rapport.pdf", 3, "54 formations.", 0.9, 10, 24, "Chiffres clés")
    assert chunk.where == citation.where == "rapport.pdf, p. 3, Chiffres clés"


def test_sources_panel_highlights_the_sentence_and_escapes_the_document() -> None:
    text = "Introduction <b>brute</b>. En 2021, 54 formations labellisées."
    chunk = Chunk("c1", text, "rapport.pdf", 3, 0, len(text), "h", "Chiffres clés")
    start = text.index("En 2021")
    citation = Citation(1, "rapport.pdf", 3, text[start:], 0.9, start, len(text), "Chiffres clés")
    answer = Answer("q", "« En 2021, 54 formations labellisées. » [1]", False, [citation],
                    retrieved=[ScoredChunk(chunk, 0.9)])
    html = sources_html(answer, "en")
    assert "[1] rapport.pdf, p. 3, Chiffres clés" in html
    assert "<mark>En 2021, 54 formations labellisées.</mark>" in html
    assert "&lt;b&gt;brute&lt;/b&gt;" in html and "<b>brute</b>" not in html
    assert "href='/doc/rapport.pdf#page=3'" in html
    assert doc_link(Citation(1, "a b.txt", None, "x", 1.0, 5, 9)) == "/doc/a%20b.txt?start=5&end=9#passage"


def test_document_page_marks_the_passage_and_ignores_a_bad_span() -> None:
    page = document_page("note.txt", "avant <milieu> après", 6, 14)
    assert "<mark id='passage'>&lt;milieu&gt;</mark>" in page
    assert "<mark" not in document_page("note.txt", "court", 3, 99)
