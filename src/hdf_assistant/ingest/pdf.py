"""PDF pages -> clean, citable text: tables as rows with their headers,
columns in reading order, running headers and footers removed, end-of-line
hyphenation joined, headings kept for citations.

Uses pdfplumber (pure Python, MIT licence): its table finder works on the
ruled tables of regional reports and its word boxes let us find columns.
Each page becomes blocks separated by a form feed ("\\f"), which the chunker
never packs across: a table's rows stay together, away from the prose.

A page without a text layer, or mostly image with little text, is rendered
(pypdfium2) and read by OCR (``ocr.py``); its lines then go through the same
cleaning. Image files (PNG, JPEG, TIFF frames) are read the same way.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdf_assistant.ingest.ocr import OcrLine, OcrOptions, OcrPage, OcrUnavailable, png_bytes, recognise_pages
from hdf_assistant.ingest.textclean import clean_text

BLOCK_BREAK = "\f"
_HYPHEN_END = re.compile(r"([A-Za-zÀ-ÿ]+)-$")
_DIGITS = re.compile(r"\d+")


@dataclass
class Line:
    text: str
    top: float
    bottom: float
    x0: float
    size: float


@dataclass
class Table:
    rows: list[list[str]]
    top: float
    caption: str = ""
    header: list[str] | None = None


@dataclass
class Page:
    number: int
    lines: list[Line] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    #: the page is (mostly) an image: its text must be read by OCR
    needs_ocr: bool = False
    ocr: bool = False
    #: why the page gives no text (OCR unavailable, too unsure...)
    skipped: str | None = None


@dataclass(frozen=True)
class PageText:
    """The text of one page and its headings (offset in text, heading)."""

    number: int
    text: str
    headings: tuple[tuple[int, str], ...] = ()
    #: read by OCR
    ocr: bool = False
    #: why this page has no text, when it was skipped
    skipped: str | None = None

#: a page needs OCR when images cover at least this share of it...
_IMAGE_SHARE = 0.5
#: ... and its text layer covers less than this share
_TEXT_SHARE = 0.02


def _inside(obj: dict[str, Any], boxes: list[tuple[float, float, float, float]]) -> bool:
    cx, cy = (obj["x0"] + obj["x1"]) / 2, (obj["top"] + obj["bottom"]) / 2
    return any(x0 - 1 <= cx <= x1 + 1 and top - 1 <= cy <= bottom + 1 for x0, top, x1, bottom in boxes)


def _lines_of(region: Any) -> list[Line]:
    lines = []
    for item in region.extract_text_lines(layout=False, strip=True, return_chars=True):
        text = item["text"].strip()
        if not text:
            continue
        sizes = [c.get("size", 0) for c in item.get("chars", []) if c.get("text", "").strip()]
        lines.append(Line(text, item["top"], item["bottom"], item["x0"], statistics.median(sizes) if sizes else 0))
    return lines


def _gutter(words: list[dict[str, Any]], width: float) -> float | None:
    """x of an empty vertical band near the middle that splits the words into
    two columns, or None for a one-column page."""
    if len(words) < 20:
        return None
    best = None
    for x in range(int(width * 0.35), int(width * 0.65)):
        crossing = sum(1 for w in words if w["x0"] < x < w["x1"])
        left = sum(1 for w in words if w["x1"] <= x)
        right = sum(1 for w in words if w["x0"] >= x)
        if crossing <= len(words) * 0.01 and left > len(words) * 0.2 and right > len(words) * 0.2:
            score = (crossing, abs(x - width / 2))
            if best is None or score < best[0]:
                best = (score, x)
    return None if best is None else float(best[1])


def _needs_ocr(page: Any) -> bool:
    """No text layer but images, or images over most of the page and little text."""
    area = float(page.width * page.height) or 1.0
    images = sum(max(0.0, min(float(i["x1"]), float(page.width)) - max(float(i["x0"]), 0.0))
                 * max(0.0, min(float(i["bottom"]), float(page.height)) - max(float(i["top"]), 0.0))
                 for i in page.images)
    if images / area < _IMAGE_SHARE and not (images and not page.chars):
        return False
    text = sum((float(c["x1"]) - float(c["x0"])) * (float(c["bottom"]) - float(c["top"]))
               for c in page.chars if c.get("text", "").strip())
    return text / area < _TEXT_SHARE


def _read_page(page: Any, number: int) -> Page:
    result = Page(number)
    if _needs_ocr(page):
        result.needs_ocr = True
        return result
    found = page.find_tables()
    boxes = [t.bbox for t in found]
    for t in found:
        rows = [[" ".join((cell or "").split()) for cell in row] for row in t.extract()]
        rows = [r for r in rows if any(r)]
        if rows:
            result.tables.append(Table(rows, t.bbox[1]))
    prose = page.filter(lambda obj: obj.get("object_type") != "char" or not _inside(obj, boxes)) if boxes else page
    h = float(page.height)
    body_words = [w for w in prose.extract_words() if h * 0.08 < w["top"] < h * 0.92]
    gutter = _gutter(body_words, float(page.width))
    if gutter is None:
        result.lines = _lines_of(prose)
    else:
        # lines above and below the columns (titles, running header and footer)
        # in page order; the left column, then the right one, in between
        everything = _lines_of(prose)
        columns_top = min(w["top"] for w in body_words) - 1
        columns_bottom = max(w["bottom"] for w in body_words) + 1
        left = _lines_of(prose.crop((0, columns_top, gutter, columns_bottom)))
        right = _lines_of(prose.crop((gutter, columns_top, float(page.width), columns_bottom)))
        above = [ln for ln in everything if (ln.top + ln.bottom) / 2 < columns_top]
        below = [ln for ln in everything if (ln.top + ln.bottom) / 2 > columns_bottom]
        result.lines = above + left + right + below
    return result


def _repeated_margins(pages: list[Page]) -> set[str]:
    """Lines seen at the top or bottom of most pages (digits ignored)."""
    if len(pages) < 2:
        return set()
    counts: Counter[str] = Counter()
    for page in pages:
        edge = {_DIGITS.sub("#", ln.text.lower()) for ln in page.lines[:2] + page.lines[-2:]}
        counts.update(edge)
    needed = max(2, (len(pages) + 1) // 2)
    return {key for key, n in counts.items() if n >= needed}


def _is_header_row(row: list[str]) -> bool:
    filled = [c for c in row if c]
    return len(filled) == len(row) and sum(any(ch.isdigit() for ch in c) for c in filled) <= len(filled) // 3


def _table_text(table: Table) -> str:
    header = table.header or [f"colonne {i + 1}" for i in range(len(table.rows[0]))]
    rows = table.rows[1:] if table.header is not None and table.rows[0] == table.header else table.rows
    lines = [table.caption] if table.caption else []
    for row in rows:
        cells = [f"{h}: {v}" for h, v in zip(header, row) if v]
        if cells:
            lines.append(" | ".join(cells))
    return "\n".join(lines)


def _join_hyphens(lines: list[str], known_compounds: set[str]) -> str:
    """Join the lines of one paragraph; "numé-" + "rique" -> "numérique", but
    "e-" + "santé" stays "e-santé"."""
    text = ""
    for line in lines:
        match = _HYPHEN_END.search(text) if text.endswith("-") else None
        if match and line[:1].islower():
            prefix = match.group(1)
            following = re.match(r"[\wÀ-ÿ]+", line)
            compound = f"{prefix}-{following.group(0) if following else ''}".lower()
            if len(prefix) <= 2 or prefix[:1].isupper() or compound in known_compounds:
                text += line  # a real compound cut at its hyphen
            else:
                text = text[:-1] + line
        else:
            text = f"{text} {line}" if text else line
    return text


def _blocks(lines: list[Line], body_size: float, known_compounds: set[str]) -> list[tuple[float, str, bool]]:
    """Headings and paragraphs of a page as (top, text, is_heading), in order."""
    blocks: list[tuple[float, str, bool]] = []
    paragraph: list[Line] = []

    def flush() -> None:
        if paragraph:
            blocks.append((paragraph[0].top, _join_hyphens([p.text for p in paragraph], known_compounds), False))
            paragraph.clear()

    for ln in lines:
        if body_size and ln.size >= body_size * 1.15 and len(ln.text) < 90:
            flush()
            blocks.append((ln.top, ln.text, True))
            continue
        if paragraph:
            gap = ln.top - paragraph[-1].bottom
            height = max(paragraph[-1].bottom - paragraph[-1].top, 1)
            if gap > height * 0.8 or ln.top < paragraph[-1].top or abs(ln.x0 - paragraph[-1].x0) > 150:
                flush()
        paragraph.append(ln)
    flush()
    return blocks


def _cells(line: OcrLine) -> list[tuple[str, float]]:
    """A line's words grouped into cells where the gap between two words is
    wider than the line is high: (cell text, left)."""
    cells: list[tuple[list[str], float, float]] = []
    for word, left, right in line.words:
        if cells and left - cells[-1][2] <= line.height * 1.2:
            cells[-1][0].append(word)
            cells[-1] = (cells[-1][0], cells[-1][1], right)
        else:
            cells.append(([word], left, right))
    return [(" ".join(words), left) for words, left, _ in cells]


def _aligned(a: list[tuple[str, float]], b: list[tuple[str, float]], tolerance: float) -> bool:
    return len(a) == len(b) >= 2 and all(abs(x[1] - y[1]) <= tolerance for x, y in zip(a, b))


def _ocr_lines_and_tables(page: OcrPage) -> tuple[list[Line], list[Table]]:
    """OCR lines, with the runs of three or more lines whose cells line up
    (a table drawn in the image) turned into a table with its header row."""
    lines = list(page.lines)
    cells = [_cells(ln) for ln in lines]
    out: list[Line] = []
    tables: list[Table] = []
    i = 0
    while i < len(lines):
        j = i + 1
        while j < len(lines) and _aligned(cells[i], cells[j], tolerance=max(lines[i].height * 2, 12.0)):
            j += 1
        if j - i >= 3:
            tables.append(Table([[text for text, _ in row] for row in cells[i:j]], lines[i].top))
            i = j
            continue
        ln = lines[i]
        out.append(Line(ln.text, ln.top, ln.bottom, ln.x0, ln.height))
        i += 1
    return out, tables


def _read_by_ocr(pages: list[Page], renders: dict[int, Any], key: str, ocr: OcrOptions | None,
                 on_page: Any = None) -> None:
    """Fill the lines of the pages that need OCR (or say why they stay empty)."""
    wanted = [p for p in pages if p.needs_ocr]
    if not wanted:
        return
    if ocr is None:
        ocr = OcrOptions(enabled=False)
    for page in wanted[ocr.max_pages:]:
        page.skipped = f"beyond the OCR limit of {ocr.max_pages} pages per file (ocr_max_pages)"
    wanted = wanted[: ocr.max_pages]
    try:
        results = recognise_pages([(f"{key}:{p.number}", renders[p.number]) for p in wanted], ocr, on_page)
    except OcrUnavailable as exc:
        for page in wanted:
            page.skipped = f"scanned page, not read: {exc}"
        return
    for page, read in zip(wanted, results):
        if read.words == 0 or read.confidence < ocr.min_page_confidence:
            page.skipped = (f"OCR too unsure to index (mean confidence {read.confidence:.0f} below "
                            f"{ocr.min_page_confidence:.0f})")
            continue
        page.lines, page.tables = _ocr_lines_and_tables(read)
        page.ocr = True


def extract_pdf(path: Path, ocr: OcrOptions | None = None, file_hash: str = "",
                on_page: Any = None) -> list[PageText]:
    """Clean text of every page of a PDF (raises on unreadable files); pages
    without a text layer are read by OCR when ``ocr`` allows it."""
    import pdfplumber

    with pdfplumber.open(str(path)) as pdf:
        pages = [_read_page(page, i + 1) for i, page in enumerate(pdf.pages)]
    if any(p.needs_ocr for p in pages):
        import pypdfium2

        document = pypdfium2.PdfDocument(str(path))
        dpi = (ocr or OcrOptions()).dpi
        try:
            def render(number: int) -> Any:
                return lambda: png_bytes(document[number - 1].render(scale=dpi / 72).to_pil())

            renders = {p.number: render(p.number) for p in pages if p.needs_ocr}
            _read_by_ocr(pages, renders, file_hash or str(path), ocr, on_page)
        finally:
            document.close()
    return page_texts(pages)


def extract_image(path: Path, ocr: OcrOptions | None, file_hash: str = "", on_page: Any = None) -> list[PageText]:
    """The text of an image file by OCR, one page per frame (a multi-page TIFF)."""
    from PIL import Image, ImageSequence

    with Image.open(path) as image:
        frames = [frame.copy() for frame in ImageSequence.Iterator(image)]
    pages = [Page(i + 1, needs_ocr=True) for i in range(len(frames))]
    renders = {i + 1: (lambda f=frame: png_bytes(f)) for i, frame in enumerate(frames)}
    _read_by_ocr(pages, renders, file_hash or str(path), ocr, on_page)
    return page_texts(pages)


def page_texts(pages: list[Page]) -> list[PageText]:
    """Pages read from a PDF or by OCR -> clean text: running headers and
    footers removed, hyphenation joined, paragraphs and headings, tables as rows."""
    margins = _repeated_margins(pages)
    all_text = " ".join(ln.text for p in pages for ln in p.lines)
    known_compounds = {m.lower() for m in re.findall(r"\b[\wÀ-ÿ]+-[\wÀ-ÿ]+\b", all_text.replace("-\n", ""))}
    sizes = [ln.size for p in pages for ln in p.lines if ln.size]
    body = statistics.median(sizes) if sizes else 0
    previous_table: Table | None = None
    out = []
    for page in pages:
        lines = [ln for ln in page.lines if _DIGITS.sub("#", ln.text.lower()) not in margins]
        heading_of_table: dict[int, str] = {}
        blocks = _blocks(lines, body, known_compounds)
        for i, table in enumerate(page.tables):
            # the table's title: the heading (or short title line) above it, never a sentence
            above = [b for b in blocks if b[0] < table.top and (b[2] or (len(b[1]) < 90 and not b[1].endswith(".")))]
            heading_of_table[i] = above[-1][1] if above else ""
            if _is_header_row(table.rows[0]):
                table.header = table.rows[0]
            elif previous_table is not None and previous_table.header and \
                    len(previous_table.header) == len(table.rows[0]):
                table.header = previous_table.header  # a table continued from the previous page
                heading_of_table[i] = heading_of_table[i] or previous_table.caption
            table.caption = heading_of_table[i] or (previous_table.caption if previous_table else "")
            previous_table = table
        text_parts: list[str] = []
        headings: list[tuple[int, str]] = []
        offset = 0
        for _, text, is_heading in blocks:
            text = clean_text(text).replace("\n", " ")
            if not text:
                continue
            if is_heading:
                headings.append((offset, text))
            text_parts.append(text)
            offset += len(text) + 1
        captions = {t.caption for t in page.tables}
        if text_parts and all(text in captions for text in text_parts):
            text_parts, headings = [], []  # only the table's title: the table block carries it
        prose = "\n".join(text_parts)
        pieces = [prose] if prose else []
        for table in page.tables:
            pieces.append(clean_text(_table_text(table)))
        page_text = f"\n{BLOCK_BREAK}\n".join(p for p in pieces if p)
        # headings found before each table also name it
        table_offset = len(prose) + 3 if prose else 0
        for table in page.tables:
            if table.caption:
                headings.append((table_offset, table.caption))
            table_offset += len(clean_text(_table_text(table))) + 3
        out.append(PageText(page.number, page_text, tuple(sorted(headings)), page.ocr, page.skipped))
    return out
