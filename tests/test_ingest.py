from pathlib import Path

from conftest import make_pdf

from hdf_assistant.ingest.reader import read_files, scan_corpus


def read_corpus(corpus: Path):
    return read_files(scan_corpus(corpus))


def test_every_supported_format_is_read_with_its_metadata(corpus: Path) -> None:
    import docx

    (corpus / "notes.md").write_text("# Titre\n\nEuraTechnologies est à Lille.", encoding="utf-8")
    (corpus / "ancien.txt").write_bytes("Le café de Roubaix, créé en 1999.".encode("cp1252"))
    (corpus / "page.html").write_text(
        "<html><head><style>p{}</style><script>var x=1;</script></head>"
        "<body><h1>Pôle</h1><p>Le CITC soutient l'IOT.</p></body></html>",
        encoding="utf-8",
    )
    document = docx.Document()
    document.add_paragraph("Isagri édite des logiciels agricoles.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Année", "Startups"
    table.cell(1, 0).text, table.cell(1, 1).text = "2021", "1791"
    document.save(str(corpus / "rapport.docx"))
    sub = corpus / "pdfs"
    sub.mkdir()
    make_pdf(sub / "chiffres.pdf", [["Page un : introduction."], ["Page deux : 54 formations labellisées."]])

    docs, skipped = read_corpus(corpus)
    assert skipped == []
    assert sorted(docs) == ["ancien.txt", "notes.md", "page.html", "pdfs/chiffres.pdf", "rapport.docx"]
    assert docs["ancien.txt"][0].text == "Le café de Roubaix, créé en 1999."
    html_text = docs["page.html"][0].text
    assert "Le CITC soutient l'IOT." in html_text and "var x" not in html_text
    assert "Année | Startups" in docs["rapport.docx"][0].text
    pdf_pages = docs["pdfs/chiffres.pdf"]
    assert [d.page for d in pdf_pages] == [1, 2]
    assert "54 formations labellisées" in pdf_pages[1].text
    assert all(d.page is None for d in docs["notes.md"])
    assert len({d.file_hash for d in pdf_pages}) == 1 and len(pdf_pages[0].file_hash) == 64


def test_bad_files_are_skipped_with_a_reason_and_the_others_kept(corpus: Path) -> None:
    (corpus / "bon.txt").write_text("OVH a été créé en 1999 à Roubaix.", encoding="utf-8")
    (corpus / "casse.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (corpus / "vide.txt").write_bytes(b"")
    (corpus / ".cache.txt").write_text("hidden", encoding="utf-8")
    (corpus / "image.png").write_bytes(b"\x89PNG")  # images are read by OCR: this one is broken
    (corpus / "data.bin").write_bytes(b"\x00\x01")  # not a supported type: not even listed

    docs, skipped = read_corpus(corpus)
    assert list(docs) == ["bon.txt"]
    reasons = {s.file: s.reason for s in skipped}
    assert set(reasons) == {"casse.pdf", "vide.txt", "image.png"}
    assert reasons["image.png"] == "not a valid image (UnidentifiedImageError)"
    assert reasons["casse.pdf"].startswith("not a valid PDF")
    assert reasons["vide.txt"] == "empty file"


def test_text_files_keep_their_characters_so_spans_index_the_file(corpus: Path) -> None:
    raw = "Ligne un.\r\nLigne  deux, avec  espaces.\n"
    (corpus / "a.txt").write_bytes(raw.encode("utf-8"))
    docs, _ = read_corpus(corpus)
    assert docs["a.txt"][0].text == raw.replace("\r\n", "\n")
