"""A regional report made inside the tests: running header and footer, a
hyphenated paragraph, a key-figures table across two pages, a two-column page."""

from __future__ import annotations

from pathlib import Path

HEADER = "Grande Ecole du Numerique - Rapport d'impact 2021"
ROWS = [
    ("2014", "12", "310"), ("2015", "18", "420"), ("2016", "23", "540"), ("2017", "29", "660"),
    ("2018", "35", "780"), ("2019", "41", "905"), ("2020", "47", "1 050"), ("2021", "54", "1 230"),
    ("2022", "61", "1 380"), ("2023", "66", "1 470"),
]


def make_report(path: Path) -> Path:
    from fpdf import FPDF

    class Report(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", size=8)
            self.cell(0, 6, HEADER, align="C")
            self.ln(10)

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("Helvetica", size=8)
            self.cell(0, 6, f"Rapport GEN 2021 - page {self.page_no()}", align="C")

    pdf = Report()
    pdf.set_auto_page_break(auto=False)
    # page 1: introduction with words cut at line ends
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, "Introduction")
    pdf.ln(12)
    pdf.set_font("Helvetica", size=11)
    for line in [
        "La Grande Ecole du Numerique accompagne le developpement du numé-",
        "rique dans la region Hauts-de-France, en particulier dans les quar-",
        "tiers prioritaires, et soutient l'e-",
        "santé comme l'e-administration avec des formations courtes.",
    ]:
        pdf.cell(0, 6, line)
        pdf.ln(6)
    # pages 2-3: key figures table, continued on the next page without its header row
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, "Chiffres clés")
    pdf.ln(14)
    pdf.set_font("Helvetica", size=11)
    widths = (40, 70, 50)
    for cell, w in zip(("Année", "Formations labellisées", "Apprenants"), widths):
        pdf.cell(w, 8, cell, border=1)
    pdf.ln(8)
    for row in ROWS[:6]:
        for cell, w in zip(row, widths):
            pdf.cell(w, 8, cell, border=1)
        pdf.ln(8)
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for row in ROWS[6:]:
        for cell, w in zip(row, widths):
            pdf.cell(w, 8, cell, border=1)
        pdf.ln(8)
    # page 4: two columns
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, "Territoires")
    pdf.ln(14)
    pdf.set_font("Helvetica", size=11)
    top = pdf.get_y()
    left = ("A Lille, la metropole concentre la moitie des formations labellisees. Les apprenants y suivent "
            "des parcours de developpeur web. Les entreprises locales recrutent la plupart des diplomes.")
    right = ("A Amiens, un campus numerique a ouvert en 2019. Il forme surtout des techniciens reseau. "
             "La Somme compte aussi deux fabriques numeriques en zone rurale.")
    pdf.set_xy(10, top)
    pdf.multi_cell(85, 6, left)
    pdf.set_xy(110, top)
    pdf.multi_cell(85, 6, right)
    pdf.output(str(path))
    return path
