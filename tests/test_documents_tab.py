"""The Documents tab's logic with the fake embedder: each document's status,
uploads indexed at once, deletion and replacement only after a confirmation,
and nothing reaching outside the corpus. (The tab in a browser: test_ui.py.)"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from conftest import BUNDLED_CORPUS, live_index, make_pdf, write
from fake_embedder import FakeEmbedder

from hdf_assistant.access import Guard
from hdf_assistant.assistant import build_assistant
from hdf_assistant.index.status import INDEXED, PARTIAL, PENDING, REMOVED, SKIPPED, document_statuses
from hdf_assistant.web.documents_tab import DocumentManager
from hdf_assistant.web.render import format_answer, sources_html

PANORAMA = "panorama_numerique_hauts_de_france.txt"


def _manager(settings, corpus: Path) -> DocumentManager:
    shutil.copy(BUNDLED_CORPUS / PANORAMA, corpus / PANORAMA)
    return DocumentManager(Guard(build_assistant(settings, embedder=FakeEmbedder())))


def _states(docs: DocumentManager) -> dict[str, str]:
    return {d.name: d.state for d in document_statuses(docs.assistant.manifest, docs.corpus_dir)}


def test_each_row_says_indexed_skipped_with_its_reason_or_not_yet_indexed(settings, corpus: Path) -> None:
    docs = _manager(settings, corpus)
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    docs.refresh()
    write(corpus, "later.txt", "Un texte ajouté dans le dossier, pas encore indexé.")
    assert _states(docs) == {PANORAMA: INDEXED, "broken.pdf": SKIPPED, "later.txt": PENDING}
    rows = {r[0]: r for r in docs.rows("en")}
    assert rows[PANORAMA][1:5] == ["general", "indexed", 1, 17]
    assert rows["broken.pdf"][2].startswith("skipped — not a valid PDF")
    assert rows["later.txt"][2] == "not indexed yet"
    assert {r[0]: r[2] for r in docs.rows("fr")}["later.txt"] == "pas encore indexé"
    # a file deleted from the folder stays in the index until the next refresh, and says so
    (corpus / PANORAMA).unlink()
    assert _states(docs)[PANORAMA] == REMOVED


def test_a_pdf_page_that_cannot_be_read_marks_its_document_partly_indexed(settings, corpus: Path,
                                                                           monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no Tesseract: the scanned page cannot be read
    from scanned import mixed_pdf, page_image

    docs = _manager(settings, corpus)
    mixed_pdf(corpus / "rapport.pdf", page_image("Annexe", ["Les tiers lieux de la Somme sont au nombre de neuf."]))
    docs.refresh()
    status = {d.name: d for d in document_statuses(docs.assistant.manifest, corpus)}["rapport.pdf"]
    assert status.state == PARTIAL and status.pages == 2 and status.reasons[0].startswith("p. 3")
    assert {r[0]: r[2] for r in docs.rows("en")}["rapport.pdf"].startswith("partly indexed — p. 3")


def test_a_file_renamed_in_the_folder_is_reported_as_renamed_not_re_embedded(settings, corpus: Path) -> None:
    docs = _manager(settings, corpus)
    write(corpus, "fibre.txt", "La fibre optique couvre 92 % des foyers d'Arras.")
    docs.refresh()
    (corpus / "fibre.txt").rename(corpus / "fibre_arras.txt")
    assert "renamed (not re-embedded): fibre.txt → fibre_arras.txt" in docs.refresh("en")
    assert "fibre_arras.txt" in live_index(settings).sources() and "fibre.txt" not in live_index(settings).sources()
    (corpus / "fibre_arras.txt").rename(corpus / "fibre.txt")
    assert "renommé (non ré-encodé) : fibre_arras.txt → fibre.txt" in docs.refresh("fr")


def test_upload_then_delete_after_confirmation(settings, corpus: Path, tmp_path: Path) -> None:
    docs = _manager(settings, corpus)
    upload = make_pdf(tmp_path / "fibre.pdf", [["La fibre optique couvre 92 % des foyers d'Arras."]])
    lines, saved = docs.add([str(upload)], replace=False, lang="en")
    assert saved and lines == ["✅ fibre.pdf added."]
    report = docs.refresh("en")
    assert report[0].startswith("✅ Index up to date") and "added: fibre.pdf" in report
    assert "fibre.pdf" in live_index(settings).sources()
    assert docs.names() == ["fibre.pdf", PANORAMA]

    # nothing is deleted before the confirmation; cancelling leaves it
    pending, question = docs.ask_delete("fibre.pdf", "en")
    assert pending is not None and "Delete **fibre.pdf**" in question
    assert (corpus / "fibre.pdf").exists() and "fibre.pdf" in live_index(settings).sources()
    lines = docs.apply(pending, "en")
    assert lines[0] == "🗑️ fibre.pdf deleted." and "removed: fibre.pdf" in lines
    assert not (corpus / "fibre.pdf").exists() and "fibre.pdf" not in live_index(settings).sources()
    assert docs.ask_delete(None, "fr") == (None, "Choisissez d'abord un document dans la liste.")
    # a name that leads outside the corpus is not a document
    (tmp_path / "secret.txt").write_text("secret", encoding="utf-8")
    assert docs.apply(docs.ask_delete("../secret.txt")[0], "en") == ["❌ ../secret.txt is no longer in the folder."]
    assert (tmp_path / "secret.txt").exists()


def test_replace_keeps_the_name_and_place_and_refuses_another_type(settings, corpus: Path, tmp_path: Path) -> None:
    docs = _manager(settings, corpus)
    (corpus / "notes").mkdir()
    write(corpus / "notes", "arras.txt", "Arras compte 12 tiers-lieux numériques.")
    docs.refresh()
    new = tmp_path / "version2.txt"
    new.write_text("Arras compte désormais 15 tiers-lieux numériques.", encoding="utf-8")
    assert docs.ask_replace("notes/arras.txt", str(tmp_path / "x.pdf"), "en")[0] is None
    assert "not a .txt file" in docs.ask_replace("notes/arras.txt", str(tmp_path / "x.pdf"), "en")[1]
    pending, question = docs.ask_replace("notes/arras.txt", str(new), "fr")
    assert pending is not None and "Remplacer **notes/arras.txt** par le contenu de version2.txt" in question
    assert "12 tiers-lieux" in (corpus / "notes" / "arras.txt").read_text(encoding="utf-8")
    lines = docs.apply(pending, "fr")
    assert lines[0] == "✅ notes/arras.txt remplacé." and "modifiés : notes/arras.txt" in lines
    assert "15 tiers-lieux" in (corpus / "notes" / "arras.txt").read_text(encoding="utf-8")
    assert not (corpus / "arras.txt").exists()
    assert "15 tiers-lieux" in live_index(settings).source_text("notes/arras.txt")


def test_rest_api_lists_skipped_files_with_their_reason(settings, corpus: Path) -> None:
    import httpx
    from api_server import running

    from hdf_assistant.web.server import create_app

    docs = _manager(settings, corpus)
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    docs.refresh()
    with running(create_app(docs.assistant)) as url:
        listed = httpx.get(f"{url}/api/v1/documents").json()
    assert listed["not_indexed"] == ["broken.pdf"]
    assert listed["skipped"][0]["name"] == "broken.pdf" and "not a valid PDF" in listed["skipped"][0]["reason"]
    assert listed["documents"][0]["name"] == PANORAMA and listed["documents"][0]["ocr_pages"] == 0


def test_long_quotes_fold_and_sources_offer_their_reference_to_copy(settings, corpus: Path) -> None:
    docs = _manager(settings, corpus)
    answer = docs.assistant.ask("Où OVH a-t-il été créé ?")
    long_quote = "Une très longue phrase sur le numérique régional " * 10
    citation = replace(answer.citations[0], text=long_quote)
    answer = replace(answer, citations=[citation, *answer.citations[1:]],
                     text=f"D'après les documents : « {' '.join(long_quote.split())} » [1]")
    shown = format_answer(answer, "en")
    assert shown.startswith("D'après les documents : « Une très longue phrase")
    assert "… » [1] <details><summary>Read the whole quote</summary>" in shown
    head, folded = shown.split("<details>")
    assert len(head) < 260 and f"« {' '.join(long_quote.split())} »</details>" in folded
    panel = sources_html(answer, "fr")
    assert f'data-ref="{citation.where}"' in panel
    assert ">Copier la référence</button>" in panel


def test_upload_refusals_are_told_in_the_chosen_language(settings, corpus: Path, tmp_path: Path) -> None:
    docs = _manager(settings.replace(max_file_mb=1), corpus)
    (tmp_path / "virus.exe").write_bytes(b"MZ")
    (tmp_path / "vide.txt").write_bytes(b"")
    (tmp_path / "gros.txt").write_bytes(b"a" * (1024 * 1024 + 1))
    shutil.copy(corpus / PANORAMA, tmp_path / PANORAMA)
    files = [str(tmp_path / n) for n in ("virus.exe", "vide.txt", "gros.txt", PANORAMA)]
    lines, saved = docs.add(files, replace=False, lang="fr")
    assert not saved
    assert lines[0].startswith("❌ virus.exe : type de fichier non pris en charge (acceptés : .txt, .md, .pdf")
    assert lines[1:] == ["❌ vide.txt : fichier vide", "❌ gros.txt : plus gros que la limite de 1 Mo",
                         f"❌ {PANORAMA} : un fichier de ce nom existe déjà (cochez « Remplacer » pour l'écraser)"]
    english, _ = docs.add(files[1:2], replace=False, lang="en")
    assert english == ["❌ vide.txt: empty file"]
