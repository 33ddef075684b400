"""Scanned PDFs and images read by OCR (Tesseract, French and English):
pages keep their number, passages say they were read by OCR, a scanned page
without Tesseract is skipped with the install command while the rest is
indexed, and OCR results are never computed twice for the same file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import write
from fake_embedder import FakeEmbedder
from scanned import mixed_pdf, page_image, save_pdf

import hdf_assistant.ingest.ocr as ocr_module
from hdf_assistant.assistant import ocr_options, open_backend, refresh_index
from hdf_assistant.config import load_settings
from hdf_assistant.ingest.ocr import INSTALL_HINT
from hdf_assistant.schema import place

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None,
                                reason=f"Tesseract is not installed ({INSTALL_HINT})")

INTRO = ("La Région Hauts-de-France compte vingt-deux fabriques numériques, réparties dans les cinq "
         "départements. Elles accueillent des ateliers d'initiation à la programmation et à l'électronique.")
FIGURES = "Le réseau des fabriques a accueilli 4 380 visiteurs en 2022, contre 3 150 en 2021."
TABLE = [["Année", "Ateliers", "Visiteurs"], ["2021", "310", "3 150"], ["2022", "455", "4 380"]]
NOTE = "Le tiers lieu de Saint-Quentin ouvrira en 2024 un atelier de robotique pour les collégiens."


def scanned_corpus(corpus: Path) -> Path:
    """A two-page scanned report (page 2 holds a table drawn as an image), a PNG
    note, a PDF with two text pages and a scanned third one, and a text file."""
    intro = page_image("Rapport des fabriques numériques", [INTRO])
    figures = page_image("Chiffres clés", [FIGURES], table=TABLE)
    save_pdf([intro, figures], corpus / "fabriques.pdf")
    page_image("Note", [NOTE]).save(corpus / "note.png")
    mixed_pdf(corpus / "mixte.pdf", page_image("Annexe", ["Les tiers lieux de la Somme sont au nombre de neuf."]))
    write(corpus, "lisez-moi.txt", "Ce dossier rassemble les rapports des fabriques numériques.")
    return corpus


@pytest.fixture()
def ocr_settings(tmp_path: Path, corpus: Path):
    scanned_corpus(corpus)
    return load_settings(env={}, corpus_dir=corpus, index_dir=tmp_path / "index", progress=False,
                         ocr_cache_dir=tmp_path / "ocr-cache")


def chunks_of(settings, source: str):
    index = open_backend(settings).open()
    return [index.chunk(cid) for cid in index.chunk_ids_of(source)]


def test_scanned_pages_and_images_are_indexed_with_their_page_and_marked_ocr(ocr_settings) -> None:
    report = refresh_index(ocr_settings, FakeEmbedder)
    assert report.skipped == []
    assert sorted(report.added) == ["fabriques.pdf", "lisez-moi.txt", "mixte.pdf", "note.png"]
    index = open_backend(ocr_settings).open()
    page2 = index.page_text("fabriques.pdf", 2)
    assert "4 380 visiteurs en 2022" in page2 and "Chiffres clés" in page2
    assert "fabriques numériques" in index.page_text("fabriques.pdf", 1)  # accents read back
    assert "Saint-Quentin ouvrira en 2024" in index.page_text("note.png", None)
    chunks = chunks_of(ocr_settings, "fabriques.pdf")
    assert {c.page for c in chunks} == {1, 2} and all(c.ocr for c in chunks)
    assert all(c.ocr and c.page is None for c in chunks_of(ocr_settings, "note.png"))
    assert not any(c.ocr for c in chunks_of(ocr_settings, "lisez-moi.txt"))


def test_a_pdf_with_text_pages_and_one_scanned_page_has_all_its_pages(ocr_settings) -> None:
    refresh_index(ocr_settings, FakeEmbedder)
    chunks = chunks_of(ocr_settings, "mixte.pdf")
    by_page = {c.page: c.ocr for c in chunks}
    assert by_page == {1: False, 2: False, 3: True}
    assert "neuf" in open_backend(ocr_settings).open().page_text("mixte.pdf", 3)


def test_citations_say_the_text_was_read_by_ocr() -> None:
    assert place("fabriques.pdf", 2, "Chiffres clés", ocr=True) == "fabriques.pdf, p. 2, OCR, Chiffres clés"
    assert place("note.png", None, None, ocr=True) == "note.png, OCR"


def test_without_tesseract_text_is_indexed_and_scans_are_listed_with_the_install_command(
        ocr_settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(empty))  # no tesseract on the PATH
    ocr_module._languages.cache_clear()
    report = refresh_index(ocr_settings, FakeEmbedder)
    skipped = {(s.file, s.partial): s.reason for s in report.skipped}
    assert INSTALL_HINT in skipped[("fabriques.pdf", False)]
    assert INSTALL_HINT in skipped[("note.png", False)]
    assert skipped[("mixte.pdf", True)].startswith("p. 3: scanned page, not read")
    assert sorted(report.added) == ["lisez-moi.txt", "mixte.pdf"]
    assert {c.page for c in chunks_of(ocr_settings, "mixte.pdf")} == {1, 2}
    assert report.to_dict()["skipped"][0].keys() >= {"file", "reason", "partial"}
    # Tesseract installed afterwards: a plain refresh reads the scans, the unchanged text file is left alone
    monkeypatch.setenv("PATH", path)
    ocr_module._languages.cache_clear()
    if ocr_module.unavailable_reason(ocr_options(ocr_settings)) is not None:
        pytest.skip("Tesseract with French data is not installed here")
    again = refresh_index(ocr_settings, FakeEmbedder)
    assert again.updated == ["mixte.pdf"] and sorted(again.added) == ["fabriques.pdf", "note.png"]
    assert again.unchanged == ["lisez-moi.txt"] and again.skipped == []
    assert {c.page for c in chunks_of(ocr_settings, "mixte.pdf")} == {1, 2, 3}
    assert refresh_index(ocr_settings, FakeEmbedder).updated == []  # read once, not at every refresh


def test_ocr_turned_off_skips_scans_and_says_so(ocr_settings) -> None:
    report = refresh_index(ocr_settings.replace(ocr=False), FakeEmbedder)
    reasons = {s.file: s.reason for s in report.skipped}
    assert "OCR is turned off" in reasons["fabriques.pdf"] and "OCR is turned off" in reasons["note.png"]


def test_the_page_limit_keeps_the_first_pages_and_reports_the_others(ocr_settings) -> None:
    report = refresh_index(ocr_settings.replace(ocr_max_pages=1), FakeEmbedder)
    partial = [s for s in report.skipped if s.file == "fabriques.pdf"]
    assert len(partial) == 1 and partial[0].partial and partial[0].reason.startswith("p. 2: beyond the OCR limit of 1")
    assert {c.page for c in chunks_of(ocr_settings, "fabriques.pdf")} == {1}


def test_a_page_ocr_cannot_read_with_confidence_is_skipped_not_indexed(tmp_path: Path, corpus: Path) -> None:
    import numpy as np
    from PIL import Image

    noise = np.random.default_rng(0).integers(0, 256, (1200, 900), dtype=np.uint8)
    Image.fromarray(noise).save(corpus / "bruit.png")
    write(corpus, "a.txt", "Un texte lisible.")
    settings = load_settings(env={}, corpus_dir=corpus, index_dir=tmp_path / "index", progress=False,
                             ocr_cache_dir=tmp_path / "ocr-cache")
    report = refresh_index(settings, FakeEmbedder)
    reasons = {s.file: s.reason for s in report.skipped}
    assert "bruit.png" in reasons and ("too unsure" in reasons["bruit.png"] or "no text" in reasons["bruit.png"])
    assert report.added == ["a.txt"]


def test_ocr_is_not_run_again_on_a_rebuild_or_an_unchanged_refresh(ocr_settings,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    runs = []
    real = ocr_module._run

    def counted(png: bytes, options):
        runs.append(len(png))
        return real(png, options)

    monkeypatch.setattr(ocr_module, "_run", counted)
    first = refresh_index(ocr_settings, FakeEmbedder)
    assert len(runs) == 4  # two pages of fabriques.pdf, note.png, page 3 of mixte.pdf
    text = open_backend(ocr_settings).open().page_text("fabriques.pdf", 2)
    refresh_index(ocr_settings, FakeEmbedder)  # nothing changed: nothing read
    rebuilt = refresh_index(ocr_settings, FakeEmbedder, full=True)  # everything read again, OCR from the cache
    assert len(runs) == 4
    assert rebuilt.chunks == first.chunks
    assert open_backend(ocr_settings).open().page_text("fabriques.pdf", 2) == text


def test_a_figure_read_by_ocr_is_answered_with_its_page_marked_ocr(ocr_settings, e5_embedder) -> None:
    from hdf_assistant.assistant import build_assistant

    assistant = build_assistant(ocr_settings, embedder=e5_embedder)
    answer = assistant.ask("Combien de visiteurs le réseau des fabriques a-t-il accueillis en 2022 ?")
    assert not answer.abstained, answer.abstain_reason
    cited = answer.citations[0]
    assert (cited.source, cited.page, cited.ocr) == ("fabriques.pdf", 2, True)
    assert "4 380" in cited.text and "2022" in cited.text
    assert "fabriques.pdf, p. 2, OCR" in cited.where
    assert answer.short_answer == "4 380"

    row = assistant.ask("Combien d'ateliers en 2021 ?")  # the table drawn in the image, read as rows
    assert row.citations[0].text == "Année: 2021 | Ateliers: 310 | Visiteurs: 3 150"
    assert row.short_answer == "310" and row.citations[0].page == 2

    note = assistant.ask("Quand le tiers lieu de Saint-Quentin ouvrira-t-il son atelier de robotique ?")
    assert not note.abstained, note.abstain_reason
    assert note.citations[0].source == "note.png" and note.citations[0].ocr
    assert note.short_answer == "2024"


def test_doc_opens_the_image_and_the_scanned_pdf_at_its_page(ocr_settings) -> None:
    import urllib.request

    from api_server import running

    from hdf_assistant.assistant import build_assistant
    from hdf_assistant.schema import Citation
    from hdf_assistant.web.render import doc_link
    from hdf_assistant.web.server import create_app

    assistant = build_assistant(ocr_settings, embedder=FakeEmbedder())
    assert doc_link(Citation(1, "fabriques.pdf", 2, "x", 1.0, 0, 5, None, True)) == "/doc/fabriques.pdf#page=2"
    with running(create_app(assistant)) as url:
        with urllib.request.urlopen(url + "/doc/note.png", timeout=10) as response:
            assert response.headers["content-type"] == "image/png"
            assert response.read() == (ocr_settings.corpus_dir / "note.png").read_bytes()
        with urllib.request.urlopen(url + "/doc/fabriques.pdf", timeout=10) as response:
            assert response.headers["content-type"] == "application/pdf"


def test_a_multi_page_tiff_gives_one_page_per_frame(tmp_path: Path, corpus: Path) -> None:
    first = page_image("Première page", ["Les tiers lieux de l'Oise accueillent des ateliers de couture."])
    second = page_image("Deuxième page", ["Le fablab de Compiègne prête des imprimantes aux associations."])
    first.save(corpus / "dossier.tiff", save_all=True, append_images=[second], compression="tiff_lzw")
    settings = load_settings(env={}, corpus_dir=corpus, index_dir=tmp_path / "index", progress=False,
                             ocr_cache_dir=tmp_path / "ocr-cache")
    report = refresh_index(settings, FakeEmbedder)
    assert report.added == ["dossier.tiff"] and report.skipped == []
    index = open_backend(settings).open()
    assert "fablab de Compiègne" in index.page_text("dossier.tiff", 2)
    assert "couture" in index.page_text("dossier.tiff", 1)
    assert {c.page for c in chunks_of(settings, "dossier.tiff")} == {1, 2}


def test_both_stores_keep_the_ocr_mark(backend_settings, tmp_path: Path) -> None:
    corpus = backend_settings.corpus_dir
    mixed_pdf(corpus / "mixte.pdf", page_image("Annexe", ["Les tiers lieux de la Somme sont au nombre de neuf."]))
    settings = backend_settings.replace(ocr_cache_dir=tmp_path / "ocr-cache")
    refresh_index(settings, FakeEmbedder)
    index = open_backend(settings).open()
    assert {c.page: c.ocr for c in chunks_of(settings, "mixte.pdf")} == {1: False, 2: False, 3: True}
    hits = index.search(FakeEmbedder().embed_queries(["tiers lieux de la Somme"])[0], index.size)
    assert {h.chunk.page: h.chunk.ocr for h in hits} == {1: False, 2: False, 3: True}
    (corpus / "mixte.pdf").rename(corpus / "annexe.pdf")  # a rename keeps the mark
    refresh_index(settings, FakeEmbedder)
    assert {c.page: c.ocr for c in chunks_of(settings, "annexe.pdf")} == {1: False, 2: False, 3: True}


def test_a_postgres_index_made_before_ocr_existed_is_read_without_a_rebuild(settings, postgres_url) -> None:
    backend_settings = settings.replace(store="postgres", database_url=postgres_url, index_name="before_ocr")
    write(backend_settings.corpus_dir, "a.txt", "OVH a été créé en 1999 à Roubaix.")
    refresh_index(backend_settings, FakeEmbedder)
    backend = open_backend(backend_settings)
    with backend.db.cursor(commit=True) as cur:  # the table as the previous version made it
        cur.execute(f"ALTER TABLE {backend.db.schema}.data_passages DROP COLUMN ocr")
    index = open_backend(backend_settings).open()
    assert [index.chunk(c).ocr for c in index.chunk_ids_of("a.txt")] == [False]
    write(backend_settings.corpus_dir, "b.txt", "EuraTechnologies est un pôle d'excellence.")
    assert refresh_index(backend_settings, FakeEmbedder).added == ["b.txt"]
