"""Corpus files -> source documents (one per file, one per PDF page).

One reader per file type. Each file is read in isolation: a file that cannot
be read is reported as :class:`Skipped` with a reason and never stops the
others.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hdf_assistant.errors import IngestError
from hdf_assistant.schema import Skipped, SourceDocument
from hdf_assistant.textclean import clean_text, decode_text, looks_binary

log = logging.getLogger(__name__)

SUPPORTED_EXTENSIONS = (".txt", ".md", ".pdf", ".html", ".htm", ".docx")


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



def pdf_pages(item: CorpusFile) -> list[SourceDocument]:
    """One document per page: tables as rows with headers, columns in order,
    running headers and footers removed (see pdf_extract.py)."""
    from hdf_assistant.pdf_extract import extract_pdf

    _check_pdf(item.path)
    try:
        pages = extract_pdf(item.path)
    except Exception as exc:  # pdfminer raises many types on damaged files
        raise IngestError(f"not a valid PDF ({type(exc).__name__}: {exc})") from exc
    documents = [
        SourceDocument(item.source, page.text, item.file_hash, page.number, page.headings)
        for page in pages
        if page.text.strip()
    ]
    if not documents:
        raise IngestError("PDF has no extractable text (scanned?)")
    return documents


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


def read_file(item: CorpusFile, max_bytes: int | None = None) -> list[SourceDocument]:
    """Extract the documents of one file, or raise :class:`IngestError`."""
    size = item.path.stat().st_size
    if size == 0:
        raise IngestError("empty file")
    if max_bytes is not None and size > max_bytes:
        raise IngestError(f"larger than the limit of {max_bytes // (1024 * 1024)} MB")
    if item.path.suffix.lower() == ".pdf":
        return pdf_pages(item)
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
    items: list[CorpusFile], max_bytes: int | None = None
) -> tuple[dict[str, list[SourceDocument]], list[Skipped]]:
    """Read every file in isolation; unreadable ones are returned as skipped."""
    documents: dict[str, list[SourceDocument]] = {}
    skipped: list[Skipped] = []
    for item in items:
        try:
            documents[item.source] = read_file(item, max_bytes)
        except IngestError as exc:
            log.warning("event=skip file=%s reason=%s", item.source, exc)
            skipped.append(Skipped(item.source, str(exc)))
        except Exception as exc:  # a reader bug must not lose the other files
            log.exception("event=skip file=%s", item.source)
            skipped.append(Skipped(item.source, f"unreadable ({type(exc).__name__}: {exc})"))
    return documents, skipped
