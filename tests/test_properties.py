"""Arbitrary Unicode never breaks the text cleaning, the analyser, the
chunker or the question handling."""

from hypothesis import given, settings
from hypothesis import strategies as st

from hdf_assistant.analysis import analyze, analyze_query, normalize_numbers
from hdf_assistant.answer import answer_type, question_entities
from hdf_assistant.answer.conversation import contextualize
from hdf_assistant.evaluate.metrics import normalize_answer
from hdf_assistant.ingest.chunking import chunk_spans, split_sentences
from hdf_assistant.ingest.textclean import clean_question, clean_text, decode_text, looks_binary

TEXT = st.text(max_size=400) | st.text(alphabet="aé ’'.,:;!?\n\t0123456789€%-MOVHLille«»", max_size=3000)


@given(TEXT)
@settings(max_examples=300, deadline=None)
def test_cleaning_and_analysis_never_raise(text: str) -> None:
    cleaned = clean_text(text)
    assert "\r" not in cleaned and "\x00" not in cleaned
    assert all(isinstance(t, str) and t for t in analyze(text))
    assert isinstance(analyze_query(text), list)
    assert isinstance(normalize_numbers(text), str)
    assert isinstance(normalize_answer(text), str)
    assert isinstance(answer_type(text), str) and isinstance(question_entities(text), list)


@given(TEXT)
@settings(max_examples=300, deadline=None)
def test_questions_are_always_printable_and_bounded(text: str) -> None:
    question, warnings = clean_question(text)
    assert len(question) <= 2000
    assert all(ch.isprintable() for ch in question)
    assert question == question.strip()
    if warnings:
        assert "cut" in warnings[0] and len(question) < len(text)
    assert isinstance(contextualize(question or "x", [text]), str)


#: prose, and runs of words and figures separated by spaces ("6 000 €", tables of numbers)
WORDS = st.lists(st.sampled_from(["1", "23", "6", "000", "€", "%", ":", "«", "»", "Lille", "startups", "x" * 150, "."]),
                 max_size=400).map(" ".join)


@given(TEXT | WORDS, st.integers(min_value=100, max_value=600), st.integers(min_value=0, max_value=2))
@settings(max_examples=300, deadline=None)
def test_chunks_are_exact_slices_within_the_size(text: str, size: int, overlap: int) -> None:
    for span in split_sentences(text):
        assert 0 <= span.start < span.end <= len(text)
    spans = chunk_spans(text, size, overlap)
    for span in spans:
        assert 0 <= span.start < span.end <= len(text)
        piece = text[span.start : span.end]
        assert piece == piece.strip() and piece
        # within the size, unless the chunk is one word that cannot be cut
        assert len(piece) <= size or not any(ch.isspace() for ch in piece), (size, piece)
    starts = [s.start for s in spans]
    assert starts == sorted(starts)


def test_long_runs_of_figures_are_cut_to_the_size() -> None:
    text = "Les montants : " + " ".join(str(i % 10) for i in range(300)) + "."
    spans = chunk_spans(text, 100)
    assert max(s.end - s.start for s in spans) <= 100
    word = "x" * 500 + " fin."  # one word longer than the size: alone in its chunk, never cut
    assert [word[s.start : s.end] for s in chunk_spans(word, 100)] == ["x" * 500, "fin."]


@given(st.binary(max_size=2000))
@settings(max_examples=300, deadline=None)
def test_any_bytes_decode_or_are_called_binary(data: bytes) -> None:
    assert isinstance(decode_text(data), str)
    assert isinstance(looks_binary(data), bool)
