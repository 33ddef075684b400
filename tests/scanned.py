"""Scanned documents made inside the tests: French text drawn as pixels
(no text layer), saved as a PNG, a multi-page image PDF, or one page of
images inside a PDF that also has text pages."""

from __future__ import annotations

import textwrap
from pathlib import Path

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
DPI = 300


def page_image(title: str, paragraphs: list[str], table: list[list[str]] | None = None, width_in: float = 8.27,
               height_in: float = 11.69, font_pt: float = 12, dpi: int = DPI):
    """An A4 page as a white image with black text at ``dpi`` (12-point text by default)."""
    from PIL import Image, ImageDraw, ImageFont

    px = dpi / 72
    image = Image.new("L", (int(width_in * dpi), int(height_in * dpi)), 255)
    draw = ImageDraw.Draw(image)
    body = ImageFont.truetype(FONT, int(font_pt * px))
    heading = ImageFont.truetype(BOLD, int(font_pt * 1.5 * px))
    x, y = int(0.9 * dpi), int(0.9 * dpi)
    draw.text((x, y), title, font=heading, fill=0)
    y += int(font_pt * 3 * px)
    chars = int((width_in - 1.8) * 72 / (font_pt * 0.55))
    for paragraph in paragraphs:
        for line in textwrap.wrap(paragraph, chars):
            draw.text((x, y), line, font=body, fill=0)
            y += int(font_pt * 1.6 * px)
        y += int(font_pt * 1.0 * px)
    if table:
        widths = [int(2.0 * dpi), int(2.2 * dpi), int(2.0 * dpi)]
        row_h = int(font_pt * 2.2 * px)
        for row in table:
            cx = x
            for cell, w in zip(row, widths):
                draw.rectangle([cx, y, cx + w, y + row_h], outline=0, width=3)
                draw.text((cx + int(0.1 * dpi), y + int(row_h * 0.25)), cell, font=body, fill=0)
                cx += w
            y += row_h
    return image


def save_pdf(images: list, path: Path, dpi: int = DPI) -> Path:
    """Images as the pages of a PDF without any text layer."""
    first, *rest = [im.convert("RGB") for im in images]
    first.save(path, "PDF", resolution=dpi, save_all=True, append_images=rest)
    return path


def mixed_pdf(path: Path, scanned, dpi: int = DPI) -> Path:
    """Two pages with a text layer, then ``scanned`` (an image) as page 3."""
    from fpdf import FPDF

    image_path = path.with_suffix(".page3.png")
    scanned.save(image_path, dpi=(dpi, dpi))
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in ("Introduction. Ce rapport presente les tiers lieux de la region.",
                 "Methode. Les donnees viennent des enquetes annuelles des communes."):
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.add_page()
    pdf.image(str(image_path), x=0, y=0, w=210, h=297)
    pdf.output(str(path))
    image_path.unlink()
    return path
