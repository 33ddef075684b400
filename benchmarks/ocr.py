"""OCR accuracy and speed on generated pages.

    python benchmarks/ocr.py [--pages 10] [--json]

French text with accents (the bundled panorama, cut into pages) is drawn at
300 dpi (DejaVu Sans, 11 points or ``--font-pt``, black on white; tests/scanned.py) and saved
as a PDF without a text layer. The PDF's pages are then rendered at several
resolutions and read by Tesseract (fra+eng), as indexing does:

- character accuracy: 1 - (edit distance between the recognised text and the
  source text) / (source length), spaces and line breaks normalised;
- pages per second with all cores (one Tesseract thread per page);
- an incremental refresh with nothing changed, and a full rebuild whose OCR
  comes from the cache (fake embedder: only the reading is timed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, one numpy row at a time."""
    if not a:
        return len(b)
    bs = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    idx = np.arange(len(bs) + 1)
    row = idx.copy()
    for ch in a:
        code = ord(ch)
        sub = row[:-1] + (bs != code)
        new = np.empty_like(row)
        new[0] = row[0] + 1
        new[1:] = np.minimum(row[1:] + 1, sub)
        row = np.minimum.accumulate(new - idx) + idx  # insertions along the row
    return int(row[-1])


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def source_pages(n: int, chars: int = 1400) -> list[str]:
    text = (ROOT / "corpus" / "panorama_numerique_hauts_de_france.txt").read_text(encoding="utf-8")
    paragraphs = [p.strip() for p in text.splitlines() if len(p.strip()) > 40]
    pages, current = [], ""
    i = 0
    while len(pages) < n:
        paragraph = paragraphs[i % len(paragraphs)]
        i += 1
        if current and len(current) + len(paragraph) > chars:
            pages.append(current)
            current = ""
        current = f"{current}\n{paragraph}" if current else paragraph
    return pages


def main() -> None:
    from scanned import page_image, save_pdf

    from hdf_assistant.ingest.ocr import OcrOptions
    from hdf_assistant.ingest.pdf import extract_pdf

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--dpi", type=int, nargs="+", default=[150, 200, 300])
    parser.add_argument("--font-pt", type=float, default=11, help="size of the drawn text (8 for footnotes)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    texts = source_pages(args.pages)
    out: dict[str, Any] = {"pages": args.pages, "font_pt": args.font_pt, "cores": os.cpu_count(), "resolutions": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = work / "corpus"
        corpus.mkdir()
        pdf = save_pdf([page_image("", text.split("\n"), font_pt=args.font_pt) for text in texts], corpus / "scan.pdf")
        for dpi in args.dpi:
            started = time.perf_counter()
            pages = extract_pdf(pdf, OcrOptions(dpi=dpi, cache_dir=None), "bench")
            seconds = time.perf_counter() - started
            errors = sum(edit_distance(normalise(p.text), normalise(t)) for p, t in zip(pages, texts))
            total = sum(len(normalise(t)) for t in texts)
            out["resolutions"][dpi] = {"character_accuracy": round(1 - errors / total, 4),
                                       "pages_per_second": round(len(pages) / seconds, 2),
                                       "seconds": round(seconds, 2)}
            print(f"{dpi} dpi: accuracy {1 - errors / total:.4f}, {len(pages) / seconds:.2f} pages/s",
                  file=sys.stderr)
        from fake_embedder import FakeEmbedder

        from hdf_assistant.assistant import refresh_index
        from hdf_assistant.config import load_settings

        settings = load_settings(env={}, corpus_dir=corpus, index_dir=work / "index", progress=False,
                                 ocr_cache_dir=work / "ocr-cache")
        timings = {}
        for name, full in (("first index (OCR)", False), ("refresh, nothing changed", False),
                           ("full rebuild, OCR from the cache", True)):
            started = time.perf_counter()
            refresh_index(settings, FakeEmbedder, full=full)
            timings[name] = round(time.perf_counter() - started, 3)
        out["index_seconds"] = timings
    print(json.dumps(out, indent=2) if args.json else out)


if __name__ == "__main__":
    main()
