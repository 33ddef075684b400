"""Collections, and searches limited to some of them, on both stores: a passage outside the scope is
never ranked, by the dense search, the keyword search or the document vectors, and BM25's statistics
are the scope's own (a forbidden file's words change no score)."""

from __future__ import annotations

import numpy as np
from conftest import live_index, write
from fake_embedder import FakeEmbedder

from hdf_assistant.assistant import build_assistant, refresh_index
from hdf_assistant.index.scope import Scope, ScopedIndex
from hdf_assistant.schema import collection_of


def _corpus(corpus, rh_text: str) -> None:
    write(corpus, "ovh.txt", "OVH héberge des serveurs à Roubaix depuis 1999.")
    write(corpus, "startups.txt", "La métropole lilloise compte 1791 startups et des serveurs partagés.")
    (corpus / "rh").mkdir(exist_ok=True)
    write(corpus / "rh", "paie.txt", rh_text)
    (corpus / "direction").mkdir(exist_ok=True)
    write(corpus / "direction", "budget.txt", "Le budget de la direction atteint 12 millions d'euros.")


def test_collection_is_the_first_folder() -> None:
    assert collection_of("rh/bilan.pdf") == "rh"
    assert collection_of("rh/2024/bilan.pdf") == "rh"
    assert collection_of("bilan.pdf") == "general"


def test_a_scope_never_ranks_a_passage_outside_it(backend_settings, corpus) -> None:
    _corpus(corpus, "Le salaire de Bob Martin est de 4321 euros par mois.")
    refresh_index(backend_settings, FakeEmbedder)
    index = live_index(backend_settings)
    public = Scope.of(["general"])
    rh_vector = FakeEmbedder().embed_queries(["salaire de Bob Martin 4321 euros par mois"])[0]

    # unscoped, the rh file is first everywhere: the filter is what keeps it out
    assert index.search(rh_vector, 1)[0].chunk.source == "rh/paie.txt"
    assert index.keyword_search("salaire Bob Martin", 1)[0].chunk.source == "rh/paie.txt"
    assert index.document_frequency(["salair"]) == {"salair": 1}

    hits = index.search(rh_vector, 10, scope=public)
    assert hits and {h.chunk.source for h in hits} <= {"ovh.txt", "startups.txt"}
    assert index.keyword_search("salaire Bob Martin 4321", 10, scope=public) == []
    assert index.document_frequency(["salair"], scope=public) == {"salair": 0}
    assert index.count(public) == 2 and index.count(Scope.of(["rh", "general"])) == 3
    documents = index.document_scores(rh_vector, scope=public)
    assert documents is not None and sorted(documents.nearest(10)) == ["ovh.txt", "startups.txt"]
    only_rh = Scope.of(["rh"])
    assert [h.chunk.source for h in index.search(rh_vector, 10, scope=only_rh)] == ["rh/paie.txt"]
    files = Scope.of(["general", "rh"], sources=["startups.txt"])
    assert [h.chunk.source for h in index.search(rh_vector, 10, scope=files)] == ["startups.txt"]

    view = ScopedIndex(index, public)
    assert view.sources() == ["ovh.txt", "startups.txt"] and view.size == 2
    assert sorted(view.manifest.files) == ["ovh.txt", "startups.txt"]
    assert view.chunk_ids_of("rh/paie.txt") == [] and view.source_text("rh/paie.txt") == ""
    assert np.all(view.dense_scores(rh_vector, index.chunk_ids_of("rh/paie.txt")) == 0)

    # through the assistant: the answer cannot quote it; with the right scope it does
    assistant = build_assistant(backend_settings, embedder=FakeEmbedder())
    refused = assistant.ask("Quel est le salaire de Bob Martin ?", mode="quote", retriever="hybrid", scope=public)
    assert all(c.source != "rh/paie.txt" for c in refused.citations + [r.chunk for r in refused.retrieved])
    assert "4321" not in refused.text
    allowed = assistant.ask("Quel est le salaire de Bob Martin ?", mode="quote", retriever="hybrid",
                            scope=Scope.of(["general", "rh"]))
    assert allowed.citations[0].source == "rh/paie.txt" and allowed.citations[0].collection == "rh"
    assert allowed.to_dict()["citations"][0]["collection"] == "rh"


def test_keyword_scores_do_not_reveal_the_words_of_other_collections(backend_settings, corpus, tmp_path) -> None:
    """The same public passage scores the same whether a forbidden file uses the question's words or not
    (the two forbidden texts have the same number of terms: the average length is the same)."""
    public = Scope.of(["general", "direction"])
    scores = []
    for rh_text in ("Le bulletin mentionne les salaires de mars.", "Le bulletin mentionne les serveurs de mars."):
        _corpus(corpus, rh_text)
        refresh_index(backend_settings, FakeEmbedder)
        index = live_index(backend_settings)
        ids = index.chunk_ids_of("ovh.txt") + index.chunk_ids_of("startups.txt")
        scores.append(index.keyword_scores("serveurs Roubaix", ids, scope=public))
        assert index.document_frequency(["serveur"], scope=public) == {"serveur": 2}
    assert np.all(scores[0] > 0)
    np.testing.assert_allclose(scores[0], scores[1], rtol=1e-5)
    # unscoped, the forbidden file's word does change them (what the scope prevents)
    index = live_index(backend_settings)
    ids = index.chunk_ids_of("ovh.txt")
    assert index.keyword_scores("serveurs", ids)[0] < index.keyword_scores("serveurs", ids, scope=public)[0]


def test_a_file_moved_to_another_folder_changes_collection_and_is_not_embedded_again(backend_settings,
                                                                                      corpus) -> None:
    _corpus(corpus, "Le salaire de Bob Martin est de 4321 euros par mois.")
    refresh_index(backend_settings, FakeEmbedder)
    (corpus / "rh" / "paie.txt").rename(corpus / "rh" / "paie_2025.txt")  # same folder: same collection
    counter = FakeEmbedder()
    report = refresh_index(backend_settings, lambda: counter)
    assert report.renamed == [{"from": "rh/paie.txt", "to": "rh/paie_2025.txt"}] and counter.embedded == []
    vector = FakeEmbedder().embed_queries(["salaire de Bob Martin 4321 euros"])[0]
    index = live_index(backend_settings)
    assert [h.chunk.source for h in index.search(vector, 10, scope=Scope.of(["rh"]))] == ["rh/paie_2025.txt"]
    (corpus / "rh" / "paie_2025.txt").rename(corpus / "paie_2025.txt")  # to the root: now in general
    report = refresh_index(backend_settings, lambda: counter)
    assert report.renamed == [{"from": "rh/paie_2025.txt", "to": "paie_2025.txt"}] and counter.embedded == []
    index = live_index(backend_settings)
    assert index.search(vector, 10, scope=Scope.of(["rh"])) == []
    assert index.search(vector, 1, scope=Scope.of(["general"]))[0].chunk.source == "paie_2025.txt"
    assert index.keyword_search("Bob Martin", 1, scope=Scope.of(["general"]))[0].chunk.collection == "general"


def test_a_postgres_index_made_before_collections_is_upgraded_by_a_plain_refresh(postgres_url, settings,
                                                                                 corpus) -> None:
    import uuid

    from hdf_assistant.index.postgres_db import Database

    settings = settings.replace(store="postgres", database_url=postgres_url, index_name=f"t{uuid.uuid4().hex[:12]}")
    _corpus(corpus, "Le salaire de Bob Martin est de 4321 euros par mois.")
    refresh_index(settings, FakeEmbedder)
    db = Database(postgres_url, settings.index_name)
    with db.cursor(commit=True) as cur:  # as an index made before collections existed
        cur.execute(f"ALTER TABLE {db.schema}.data_passages DROP COLUMN collection")
        cur.execute(f"ALTER TABLE {db.schema}.postings DROP COLUMN collection")
        cur.execute(f"ALTER TABLE {db.schema}.term_stats DROP COLUMN collection")
        # (dropping the postings' column dropped their covering index) and the postings' index of then
        cur.execute(f"CREATE INDEX postings_impact ON {db.schema}.postings (term, tf DESC)")
    counter = FakeEmbedder()
    report = refresh_index(settings, lambda: counter)
    assert counter.embedded == [] and report.unchanged
    index = live_index(settings)
    vector = FakeEmbedder().embed_queries(["salaire de Bob Martin 4321 euros"])[0]
    assert {h.chunk.source for h in index.search(vector, 10, scope=Scope.of(["general"]))} == \
        {"ovh.txt", "startups.txt"}
    assert index.keyword_search("Bob Martin", 5, scope=Scope.of(["general"])) == []
    assert index.keyword_search("Bob Martin", 5, scope=Scope.of(["rh"]))[0].chunk.source == "rh/paie.txt"
    assert index.document_frequency(["serveur"]) == {"serveur": 2}
    assert index.document_frequency(["salair"], scope=Scope.of(["general"])) == {"salair": 0}
    with db.cursor() as cur:  # the postings' index now carries what a scoped keyword scan reads; the old one is gone
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'postings'",
                    (db.schema,))
        indexes = dict(cur.fetchall())
    assert "postings_impact" not in indexes
    assert "INCLUDE (node_id, tf, dl, v_from, v_to, collection)" in indexes["postings_impact_cover"]
