"""Images -> lines of text, by Tesseract (French and English), offline.

The ``tesseract`` program (Debian: ``apt-get install tesseract-ocr
tesseract-ocr-fra``) is run once per page image, in parallel up to the number
of cores, each run on one thread. Its word boxes and confidences come back as
TSV: words below ``min_word_confidence`` are dropped, and a page whose mean
confidence is below ``min_page_confidence`` is refused rather than indexed.
Lines keep their position (in points, as PDF text lines do) so that the PDF
cleaning (running headers and footers, hyphenation, paragraphs, headings)
applies to OCR text unchanged.

Results are cached on disk by the image's file hash, page and settings: a full
rebuild does not OCR an unchanged file again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from hdf_assistant.errors import IngestError

log = logging.getLogger(__name__)

INSTALL_HINT = "apt-get install tesseract-ocr tesseract-ocr-fra"
OCR_OFF = "OCR is turned off (ocr = false)"
#: bump when what is cached for a page changes
OCR_VERSION = 2


@dataclass(frozen=True)
class OcrOptions:
    """How (and whether) images are read; from the settings (``ocr``, ``ocr_dpi``...)."""

    enabled: bool = True
    command: str = "tesseract"
    languages: str = "fra+eng"
    #: rendering resolution of PDF pages (benchmarks/README.md: "OCR")
    dpi: int = 300
    #: pages read by OCR at most per file (the others are skipped with that reason)
    max_pages: int = 200
    #: words Tesseract is less sure of than this (0-100) are dropped
    min_word_confidence: float = 30.0
    #: a page whose mean word confidence is below this is skipped, not indexed
    min_page_confidence: float = 55.0
    cache_dir: Path | None = None
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))


@dataclass(frozen=True)
class OcrLine:
    """One line of recognised text and its box, in points (1/72 inch)."""

    text: str
    top: float
    bottom: float
    x0: float
    height: float
    #: (word, left, right) of each word kept, in points: where a table's cells part
    words: tuple[tuple[str, float, float], ...] = ()


@dataclass(frozen=True)
class OcrPage:
    lines: tuple[OcrLine, ...]
    #: mean confidence of the words kept (0-100), weighted by their length
    confidence: float
    words: int


class OcrUnavailable(IngestError):
    """Tesseract (or its French data) is not installed."""


@lru_cache(maxsize=8)
def _languages(command: str) -> frozenset[str]:
    path = shutil.which(command)
    if path is None:
        return frozenset()
    try:
        done = subprocess.run([path, "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(line.strip() for line in done.stdout.splitlines()[1:] if line.strip())


def unavailable_reason(options: OcrOptions) -> str | None:
    """Why OCR cannot run here (with the fix), or None when it can."""
    if not options.enabled:
        return OCR_OFF
    if shutil.which(options.command) is None:
        return f"OCR needs Tesseract, which is not installed: {INSTALL_HINT}"
    missing = [lang for lang in options.languages.split("+") if lang not in _languages(options.command)]
    if missing:
        return f"Tesseract has no data for {', '.join(missing)}: {INSTALL_HINT}"
    return None


def parse_tsv(tsv: str, dpi: int, min_word_confidence: float) -> OcrPage:
    """Tesseract's TSV -> lines (words below the confidence dropped) and the page's confidence."""
    scale = 72.0 / dpi
    lines: dict[tuple[str, str, str, str], list[dict[str, str]]] = {}
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        if row.get("level") != "5" or not (row.get("text") or "").strip():
            continue
        key = (row["page_num"], row["block_num"], row["par_num"], row["line_num"])
        lines.setdefault(key, []).append(row)
    out, weighted, letters, kept = [], 0.0, 0, 0
    for words in lines.values():
        good = [w for w in words if float(w["conf"]) >= min_word_confidence]
        for w in good:
            n = len(w["text"].strip())
            weighted += float(w["conf"]) * n
            letters += n
        kept += len(good)
        if not good:
            continue
        top = min(int(w["top"]) for w in words) * scale
        bottom = max(int(w["top"]) + int(w["height"]) for w in words) * scale
        x0 = min(int(w["left"]) for w in words) * scale
        boxes = tuple((w["text"].strip(), int(w["left"]) * scale, (int(w["left"]) + int(w["width"])) * scale)
                      for w in good)
        out.append(OcrLine(" ".join(w["text"].strip() for w in good), top, bottom, x0, bottom - top, boxes))
    return OcrPage(tuple(out), weighted / letters if letters else 0.0, kept)


def _run(image_png: bytes, options: OcrOptions) -> OcrPage:
    env = dict(os.environ, OMP_THREAD_LIMIT="1")  # one thread per page: pages run side by side
    command = [options.command, "stdin", "stdout", "-l", options.languages, "--dpi", str(options.dpi),
               "--psm", "3", "tsv"]
    try:
        done = subprocess.run(command, input=image_png, capture_output=True, timeout=300, env=env, check=False)
    except FileNotFoundError as exc:
        raise OcrUnavailable(f"OCR needs Tesseract, which is not installed: {INSTALL_HINT}") from exc
    except subprocess.TimeoutExpired as exc:
        raise IngestError("OCR took longer than 5 minutes on one page") from exc
    if done.returncode != 0:
        raise IngestError(f"OCR failed: {done.stderr.decode(errors='replace').strip()[:200]}")
    return parse_tsv(done.stdout.decode("utf-8", errors="replace"), options.dpi, options.min_word_confidence)


def _cache_path(options: OcrOptions, key: str) -> Path | None:
    if options.cache_dir is None:
        return None
    settings = f"{OCR_VERSION}|{options.languages}|{options.dpi}|{options.min_word_confidence}"
    digest = hashlib.sha256(f"{key}|{settings}".encode()).hexdigest()[:32]
    return options.cache_dir / f"{digest}.json"


def _cached(path: Path | None) -> OcrPage | None:
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        lines = tuple(OcrLine(**{**line, "words": tuple(tuple(w) for w in line.get("words", ()))})
                      for line in data["lines"])
        return OcrPage(lines, float(data["confidence"]), int(data["words"]))
    except (ValueError, KeyError, TypeError):
        return None


def _store(path: Path | None, page: OcrPage) -> None:
    if path is None:
        return
    from hdf_assistant.atomic import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"lines": [asdict(line) for line in page.lines], "confidence": page.confidence,
                            "words": page.words}
    atomic_write_text(path, json.dumps(data, ensure_ascii=False))


def recognise_pages(
    images: Sequence[tuple[str, Callable[[], bytes]]],
    options: OcrOptions,
    on_page: Callable[[], None] | None = None,
) -> list[OcrPage]:
    """OCR of page images given as (cache key, function giving the PNG bytes),
    in order. Cached pages are not read again (nor rendered); the others run
    in parallel. Raises :class:`OcrUnavailable` when OCR is turned off, or
    when pages must be read and Tesseract cannot run."""
    if not options.enabled:
        raise OcrUnavailable(unavailable_reason(options) or "OCR is turned off")
    paths = [_cache_path(options, key) for key, _ in images]
    results: list[OcrPage | None] = [_cached(path) for path in paths]
    missing = [i for i, page in enumerate(results) if page is None]
    reason = unavailable_reason(options) if missing else None
    if reason is not None:
        raise OcrUnavailable(reason)
    todo: list[tuple[int, Path | None, bytes]] = []
    for i, page in enumerate(results):
        if page is None:
            todo.append((i, paths[i], images[i][1]()))  # rendered here: PDF renderers are not thread-safe
        elif on_page is not None:
            on_page()
    if todo:
        with ThreadPoolExecutor(max_workers=min(options.workers, len(todo))) as pool:
            futures = [(i, path, pool.submit(_run, png, options)) for i, path, png in todo]
            for i, path, future in futures:
                page = future.result()
                _store(path, page)
                results[i] = page
                if on_page is not None:
                    on_page()
    log.info("event=ocr pages=%d read=%d cached=%d", len(images), len(todo), len(images) - len(todo))
    return [p for p in results if p is not None]


def png_bytes(image: Any) -> bytes:
    """A PIL image as PNG bytes (grayscale: Tesseract works on luminance)."""
    buffer = io.BytesIO()
    image.convert("L").save(buffer, format="PNG")
    return buffer.getvalue()
