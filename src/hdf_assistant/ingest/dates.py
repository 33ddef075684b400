"""A document's date, where the file says it: a PDF's creation date (its metadata), a DOCX's
``created`` property, or a ``date:`` line in a Markdown (or text) front matter::

    ---
    title: Bilan 2024
    date: 2024-03-15
    ---

The date (``YYYY-MM-DD``) is kept in the manifest and lets a question be limited to documents of a
period (the filters ``date_from`` / ``date_to``). A file that states none has none ("").
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_PDF = re.compile(r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?")
_FRONT_DATE = re.compile(r"^date\s*:\s*[\"']?(\d{4}-\d{2}-\d{2})", re.IGNORECASE | re.MULTILINE)
_CREATED = re.compile(rb"<dcterms:created[^>]*>(\d{4}-\d{2}-\d{2})")


def _valid(year: str, month: str = "01", day: str = "01") -> str:
    if not (1900 <= int(year) <= 2200 and 1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return ""
    return f"{year}-{month}-{day}"


def _pdf_date(path: Path) -> str:
    import pdfplumber

    try:
        with pdfplumber.open(str(path)) as pdf:
            value = str(pdf.metadata.get("CreationDate") or pdf.metadata.get("ModDate") or "")
    except Exception:  # a broken PDF is told by the reader, not here
        return ""
    found = _PDF.match(value.strip())
    return _valid(found.group(1), found.group(2) or "01", found.group(3) or "01") if found else ""


def _docx_date(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            core = archive.read("docProps/core.xml")
    except (OSError, KeyError, zipfile.BadZipFile):
        return ""
    found = _CREATED.search(core)
    return _valid(*_ISO.match(found.group(1).decode()).groups()) if found else ""  # type: ignore[union-attr]


def _front_matter_date(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(4000)
    except OSError:
        return ""
    if not head.lstrip("\ufeff").startswith("---"):
        return ""
    end = head.find("\n---", 3)
    block = head[: end if end > 0 else len(head)]
    found = _FRONT_DATE.search(block)
    return _valid(*_ISO.match(found.group(1)).groups()) if found else ""  # type: ignore[union-attr]


def file_date(path: Path) -> str:
    """The date the file states (``YYYY-MM-DD``), or "" when it states none."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return _pdf_date(path)
    if suffix == ".docx":
        return _docx_date(path)
    if suffix in (".md", ".txt"):
        return _front_matter_date(path)
    return ""
