"""A process that only reads the index (the chat, the API) opens it lean: the
passages viewed from their files, BM25 mapped from disk and, with an IVF
index, only its 8-bit codes in memory. It must see exactly what the builder
wrote, refuse to write, and read states saved before the passage table
existed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_ann_index import TOPICS, TOWNS, write_town

from hdf_assistant.assistant import build_assistant, open_backend, refresh_index
from hdf_assistant.index import faiss_vectors, passages
from hdf_assistant.index.state import current_state_dir


@pytest.fixture()
def ivf_from_40(monkeypatch):
    monkeypatch.setattr(faiss_vectors, "ANN_MIN_VECTORS", 40)
    monkeypatch.setattr(faiss_vectors, "NPROBE", 4)


def _questions() -> list[str]:
    return [f"personnes pour {topic} à {town}" for town in TOWNS[:6] for topic in TOPICS[:4]]


def test_reader_sees_what_the_builder_wrote(settings, corpus, fake_embedder, ivf_from_40, monkeypatch) -> None:
    monkeypatch.setattr(passages, "VIEW_CACHE_PASSAGES", 7)  # sources parsed and dropped again
    settings = settings.replace(chunk_size=160, chunk_overlap=0)
    for i, town in enumerate(TOWNS[:-1]):
        write_town(corpus, i, town)
    report = refresh_index(settings, lambda: fake_embedder)
    assert report.chunks >= 40
    whole = open_backend(settings).edit()
    lean = open_backend(settings).open()
    assert lean.uses_approximate_search and lean.size == whole.size == report.chunks

    assert lean.sources() == whole.sources()
    for source in whole.sources():
        ids = whole.chunk_ids_of(source)
        assert lean.chunk_ids_of(source) == ids
        assert [lean.chunk(c) for c in ids] == [whole.chunk(c) for c in ids]
        assert lean.page_text(source, None) == whole.page_text(source, None)
    with pytest.raises(KeyError):
        lean.chunk("no-such-passage")

    vectors = fake_embedder.embed_queries(_questions())
    for vector, question in zip(vectors, _questions()):
        assert [h.chunk.id for h in lean.search(vector, 5)] == [h.chunk.id for h in whole.search(vector, 5)]
        assert [h.chunk.id for h in lean.search_exact(vector, 5)] == [h.chunk.id for h in whole.search_exact(vector, 5)]
        assert lean.keyword_search(question, 5) == whole.keyword_search(question, 5)
    some = [c for s in whole.sources()[:4] for c in whole.chunk_ids_of(s)]
    # stored vectors are decoded from 8-bit codes: within about 0.001 of each component
    assert np.abs(lean.vectors_of(some) - whole.vectors_of(some)).max() < 0.01
    assert not np.allclose(lean.vectors_of(some), 0)

    with pytest.raises(RuntimeError, match="opened for reading"):
        lean.remove_sources(["lille.txt"])
    with pytest.raises(RuntimeError, match="opened for reading"):
        lean.replace_source("lille.txt", [whole.chunk(some[0])], whole.vectors_of(some[:1]))
    with pytest.raises(RuntimeError, match="opened for reading"):
        lean.commit()
    # a refused write changed nothing
    assert lean.manifest.next_id == whole.manifest.next_id and lean.sources() == whole.sources()
    assert lean.document_vector("lille.txt") is not None


def test_the_assistant_answers_from_a_lean_index(settings, corpus, fake_embedder, ivf_from_40) -> None:
    settings = settings.replace(chunk_size=160, chunk_overlap=0)
    for i, town in enumerate(TOWNS[:-1]):
        write_town(corpus, i, town)
    (corpus / "creil.txt").write_text(
        "Creil accueille un centre de robotique sous-marine. Ses drones inspectent les écluses de l'Oise.",
        encoding="utf-8")
    refresh_index(settings, lambda: fake_embedder)
    assistant = build_assistant(settings, embedder=fake_embedder)
    answer = assistant.ask("Que font les drones de Creil ?")
    assert not answer.abstained
    assert answer.citations[0].source == "creil.txt" and "Creil" in answer.citations[0].text


def test_a_state_saved_before_the_passage_table_is_read(settings, corpus, fake_embedder) -> None:
    for i, town in enumerate(TOWNS[:4]):
        write_town(corpus, i, town)
    refresh_index(settings, lambda: fake_embedder)
    state = current_state_dir(settings.index_dir)
    before = open_backend(settings).open()
    question = "personnes pour la cybersécurité à Amiens"
    expected = [h.chunk.id for h in before.keyword_search(question, 5)]
    # what earlier versions wrote: no passages.npz, the BM25 passage order in JSON
    ids = [bytes(i).decode() for i in np.load(state / "bm25" / "chunk_ids.npy")]
    (state / "bm25" / "chunk_ids.json").write_text(json.dumps(ids), encoding="utf-8")
    (state / "bm25" / "chunk_ids.npy").unlink()
    (state / passages.TABLE_FILE).unlink()
    old = open_backend(settings).open()
    assert old.sources() == before.sources() and old.size == before.size
    assert [h.chunk.id for h in old.keyword_search(question, 5)] == expected
    vector = fake_embedder.embed_queries([question])[0]
    assert [h.chunk.id for h in old.search(vector, 3)] == [h.chunk.id for h in before.search(vector, 3)]
    # the next refresh writes the table again
    (corpus / "lille.txt").write_text("Lille compte 1791 startups.", encoding="utf-8")
    refresh_index(settings, lambda: fake_embedder)
    assert (current_state_dir(settings.index_dir) / passages.TABLE_FILE).is_file()


def test_a_reader_keeps_answering_while_the_builder_publishes_twice(settings, corpus, fake_embedder,
                                                                    monkeypatch) -> None:
    """The lean reader parses a document's passages when a question needs them: the
    state it opened must outlive two refreshes made meanwhile (state.RETIRED_GRACE_S)."""
    monkeypatch.setattr(passages, "VIEW_CACHE_PASSAGES", 1)
    for i, town in enumerate(TOWNS[:4]):
        write_town(corpus, i, town)
    refresh_index(settings, lambda: fake_embedder)
    reader = open_backend(settings).open()
    expected = {s: open_backend(settings).edit().page_text(s, None) for s in reader.sources()}
    for text in ("Lille compte 1791 startups.", "Lille compte 1800 startups."):
        (corpus / "lille.txt").write_text(text, encoding="utf-8")
        refresh_index(settings, lambda: fake_embedder)
    assert open_backend(settings).live_version() != reader.version
    assert {s: reader.page_text(s, None) for s in reader.sources()} == expected
