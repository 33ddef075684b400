"""Corpus files -> source documents (one per file, one per PDF page).

One reader per file type. Each file is read in isolation: a file that cannot
be read is reported as :class:`Skipped` with a reason and never stops the
others. Scanned PDF pages and image files are read by OCR (``ocr.py``); a
page that cannot be read is reported too ("rapport.pdf, p. 3: ..."), and the
file's other pages are still indexed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hdf_assistant.errors import IngestError
from hdf_assistant.ingest.ocr import OcrOptions
from hdf_assistant.ingest.textclean import clean_text, decode_text, looks_binary
from hdf_assistant.schema import Skipped, SourceDocument

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
SUPPORTED_EXTENSIONS = (".txt", ".md", ".pdf", ".html", ".htm", ".docx", *IMAGE_EXTENSIONS)


@dataclass(frozen=True)
class CorpusFile:
    """A file of the corpus: its relative name, absolute path and content hash."""

    source: str
    path: Path
    file_hash: str


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def discover(corpus_dir: Path) -> Iterator[Path]:
    """Supported files under ``corpus_dir``, sorted; hidden files and links
    leading outside the corpus are ignored."""
    root = corpus_dir.resolve()
    for path in sorted(corpus_dir.rglob("*")):
        rel_parts = path.relative_to(corpus_dir).parts
        if any(part.startswith(".") for part in rel_parts):
            continue
        if path.suffix.lower() not in SUPPORTED_EXTENSIONS or not path.is_file():
            continue
        if not path.resolve().is_relative_to(root):
            log.warning("event=skip_outside_link file=%s", path)
            continue
        yield path


def scan_corpus(corpus_dir: Path) -> list[CorpusFile]:
    """List the corpus files with their content hashes (no parsing)."""
    if not corpus_dir.is_dir():
        raise IngestError(f"corpus directory not found: {corpus_dir}")
    return [
        CorpusFile(path.relative_to(corpus_dir).as_posix(), path, file_sha256(path))
        for path in discover(corpus_dir)
    ]


def _read_text(path: Path) -> list[tuple[int | None, str]]:
    # Plain text keeps its characters so that citation spans index the file itself.
    data = path.read_bytes()
    if looks_binary(data):
        kind = "a PDF" if data.startswith(b"%PDF") else "not text"
        raise IngestError(f"binary content ({kind}; wrong extension?)")
    return [(None, decode_text(data).replace("\r\n", "\n"))]


def _check_pdf(path: Path) -> None:
    """Raise IngestError for a file that is no readable PDF (header, encryption, structure)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        with path.open("rb") as handle:
            if not handle.read(1024).lstrip().startswith(b"%PDF"):
                raise IngestError("not a valid PDF (no PDF header; wrong extension?)")
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:  # many PDFs are encrypted with an empty user password
                opened = reader.decrypt("")
            except Exception as exc:  # missing crypto backend, unsupported algorithm
                raise IngestError(f"encrypted PDF ({type(exc).__name__})") from exc
            if not opened:
                raise IngestError("encrypted PDF (password required)")
        len(reader.pages)
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise IngestError(f"not a valid PDF ({exc})") from exc



def _paged(item: CorpusFile, pages: list, notes: list[str] | None, kind: str) -> list[SourceDocument]:
    """Documents of the pages that have text; the others' reasons go to ``notes``."""
    single = kind == "image" and len(pages) == 1
    documents = [
        SourceDocument(item.source, page.text, item.file_hash, None if single else page.number, page.headings,
                       page.ocr)
        for page in pages
        if page.text.strip()
    ]
    reasons = [(page.number, page.skipped) for page in pages if page.skipped and not page.text.strip()]
    if not documents:
        distinct = list(dict.fromkeys(r for _, r in reasons))
        if len(distinct) == 1 and distinct[0]:
            raise IngestError(distinct[0] if single or len(reasons) == 1 else f"{distinct[0]} ({len(reasons)} pages)")
        if reasons:
            raise IngestError("; ".join(f"p. {n}: {r}" for n, r in reasons))
        raise IngestError("PDF has no extractable text" if kind == "pdf" else "no text found in the image")
    if notes is not None:
        notes.extend(f"p. {n}: {r}" for n, r in reasons)
    return documents


def pdf_pages(item: CorpusFile, ocr: OcrOptions | None = None, notes: list[str] | None = None,
              on_page: Callable[[], None] | None = None) -> list[SourceDocument]:
    """One document per page: tables as rows with headers, columns in order,
    running headers and footers removed, scanned pages read by OCR (see
    pdf_extract.py); the reasons pages were left out go to ``notes``."""
    from hdf_assistant.ingest.pdf import extract_pdf

    _check_pdf(item.path)
    try:
        pages = extract_pdf(item.path, ocr, item.file_hash, on_page)
    except IngestError:
        raise
    except Exception as exc:  # pdfminer raises many types on damaged files
        raise IngestError(f"not a valid PDF ({type(exc).__name__}: {exc})") from exc
    return _paged(item, pages, notes, "pdf")


def image_pages(item: CorpusFile, ocr: OcrOptions | None = None, notes: list[str] | None = None,
                on_page: Callable[[], None] | None = None) -> list[SourceDocument]:
    """An image read by OCR: one document, or one per frame of a multi-page TIFF."""
    from PIL import UnidentifiedImageError

    from hdf_assistant.ingest.pdf import extract_image

    try:
        pages = extract_image(item.path, ocr, item.file_hash, on_page)
    except IngestError:
        raise
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise IngestError(f"not a valid image ({type(exc).__name__})") from exc
    return _paged(item, pages, notes, "image")


def _read_html(path: Path) -> list[tuple[int | None, str]]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(path.read_bytes()), "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    for tag in soup.find_all(["p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "br", "section"]):
        tag.insert_after("\n")
    return [(None, soup.get_text())]


def _read_docx(path: Path) -> list[tuple[int | None, str]]:
    try:
        import docx
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise IngestError("reading .docx needs python-docx: pip install python-docx") from exc
    try:
        document = docx.Document(str(path))
    except Exception as exc:  # python-docx raises many types for broken files
        raise IngestError(f"not a valid DOCX ({type(exc).__name__})") from exc
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    return [(None, "\n".join(lines))]


_READERS: dict[str, Callable[[Path], list[tuple[int | None, str]]]] = {
    ".txt": _read_text,
    ".md": _read_text,
    ".html": _read_html,
    ".htm": _read_html,
    ".docx": _read_docx,
}


def read_file(item: CorpusFile, max_bytes: int | None = None, ocr: OcrOptions | None = None,
              notes: list[str] | None = None, on_page: Callable[[], None] | None = None) -> list[SourceDocument]:
    """Extract the documents of one file, or raise :class:`IngestError`; pages
    left out of a file that is read (a scanned page without OCR...) are told in ``notes``."""
    size = item.path.stat().st_size
    if size == 0:
        raise IngestError("empty file")
    if max_bytes is not None and size > max_bytes:
        raise IngestError(f"larger than the limit of {max_bytes // (1024 * 1024)} MB")
    suffix = item.path.suffix.lower()
    if suffix == ".pdf":
        return pdf_pages(item, ocr, notes, on_page)
    if suffix in IMAGE_EXTENSIONS:
        return image_pages(item, ocr, notes, on_page)
    reader = _READERS.get(item.path.suffix.lower())
    if reader is None:
        raise IngestError(f"unsupported file type '{item.path.suffix}'")
    documents = []
    plain = reader is _read_text
    for page, raw in reader(item.path):
        text = raw if plain else clean_text(raw)
        if text.strip():
            documents.append(SourceDocument(item.source, text, item.file_hash, page))
    if not documents:
        raise IngestError("no text found")
    return documents


def read_files(
    items: list[CorpusFile], max_bytes: int | None = None, ocr: OcrOptions | None = None,
    on_page: Callable[[], None] | None = None,
) -> tuple[dict[str, list[SourceDocument]], list[Skipped]]:
    """Read every file in isolation; unreadable ones are returned as skipped,
    and so are the pages left out of the files that were read (with ``page``)."""
    documents: dict[str, list[SourceDocument]] = {}
    skipped: list[Skipped] = []
    for item in items:
        notes: list[str] = []
        try:
            documents[item.source] = read_file(item, max_bytes, ocr, notes, on_page)
            for note in notes:
                log.warning("event=skip_page file=%s reason=%s", item.source, note)
                skipped.append(Skipped(item.source, note, partial=True))
        except IngestError as exc:
            log.warning("event=skip file=%s reason=%s", item.source, exc)
            skipped.append(Skipped(item.source, str(exc)))
        except Exception as exc:  # a reader bug must not lose the other files
            log.exception("event=skip file=%s", item.source)
            skipped.append(Skipped(item.source, f"unreadable ({type(exc).__name__}: {exc})"))
    return documents, skipped
