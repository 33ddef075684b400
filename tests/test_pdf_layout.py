"""Regional-report PDFs: tables keep their headers, columns their order,
running headers and footers disappear, hyphenated words are rejoined."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_pdf import HEADER, make_report

from hdf_assistant.assistant import build_assistant, open_backend, refresh_index
from hdf_assistant.ingest.reader import CorpusFile, file_sha256, read_file


@pytest.fixture()
def report(corpus: Path) -> Path:
    return make_report(corpus / "rapport_gen_2021.pdf")


def pages(path: Path):
    return read_file(CorpusFile(path.name, path, file_sha256(path)))


def test_running_header_and_footer_are_removed(report: Path) -> None:
    for doc in pages(report):
        assert HEADER not in doc.text and "Grande Ecole du Numeriqu" not in doc.text.split("\n")[0]
        assert "Rapport GEN 2021 - page" not in doc.text


def test_hyphenation_is_joined_but_compounds_kept(report: Path) -> None:
    intro = pages(report)[0]
    assert intro.page == 1
    assert "développement du numérique dans la region" in intro.text.replace("developpement", "développement")
    assert "quartiers prioritaires" in intro.text
    assert "l'e-santé" in intro.text and "e-administration" in intro.text and "Hauts-de-France" in intro.text
    assert "numé-" not in intro.text and "quar-" not in intro.text


def test_two_columns_are_read_one_after_the_other(report: Path) -> None:
    page4 = pages(report)[3]
    text = page4.text
    lille = "A Lille, la metropole concentre la moitie des formations labellisees. Les apprenants y suivent des " \
            "parcours de developpeur web. Les entreprises locales recrutent la plupart des diplomes."
    amiens = "A Amiens, un campus numerique a ouvert en 2019. Il forme surtout des techniciens reseau."
    assert lille in text and amiens in text
    assert text.index(lille) < text.index(amiens)


def test_table_rows_carry_their_headers_across_pages(report: Path) -> None:
    docs = pages(report)
    page2, page3 = docs[1].text, docs[2].text
    assert "Année: 2016 | Formations labellisées: 23 | Apprenants: 540" in page2
    # the rows continued on page 3 get the headers of page 2's table
    assert "Année: 2021 | Formations labellisées: 54 | Apprenants: 1 230" in page3
    assert page3.startswith("Chiffres clés")
    assert docs[2].headings[0][1] == "Chiffres clés"


def test_a_table_cell_answers_with_its_row_page_and_section(settings, report: Path, e5_embedder) -> None:
    refresh_index(settings, lambda: e5_embedder)
    store = open_backend(settings).open()
    for chunk in (store.chunk(cid) for cid in store.chunk_ids_of("rapport_gen_2021.pdf")):
        assert HEADER not in chunk.text and "page 2" not in chunk.text
        if "Apprenants:" in chunk.text:  # table rows live in chunks of their own
            assert "Lille" not in chunk.text and "Introduction" not in chunk.text
            assert chunk.section == "Chiffres clés"
    assistant = build_assistant(settings, embedder=e5_embedder)
    answer = assistant.ask("Combien d'apprenants en 2021 ?")
    citation = answer.citations[0]
    assert citation.text == "Année: 2021 | Formations labellisées: 54 | Apprenants: 1 230"
    assert (citation.source, citation.page, citation.section) == ("rapport_gen_2021.pdf", 3, "Chiffres clés")
    assert citation.where == "rapport_gen_2021.pdf, p. 3, Chiffres clés"
    assert store.page_text("rapport_gen_2021.pdf", 3)[citation.start : citation.end] == citation.text
    answer = assistant.ask("Combien de formations labellisées en 2016 ?")
    assert answer.citations[0].page == 2 and "Formations labellisées: 23" in answer.citations[0].text
