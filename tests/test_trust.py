"""Answers people can trust, on the bundled panorama and a report PDF with a
key-figures table: a confident answer only when the documents say it, the
right table row, the whole list, the short answer first; and the abstention
rule that fired, by name."""

from __future__ import annotations

import pytest
from conftest import BUNDLED_CORPUS
from report_pdf import make_report

from hdf_assistant.assistant import Assistant, build_assistant
from hdf_assistant.config import load_settings

PANORAMA = "panorama_numerique_hauts_de_france.txt"
TEXT = (BUNDLED_CORPUS / PANORAMA).read_text(encoding="utf-8")
AXES = ["Développer le très haut débit", "Développer les usages", "Aider les entreprises", "Fédérer les acteurs"]


@pytest.fixture(scope="module")
def panorama(tmp_path_factory: pytest.TempPathFactory, e5_embedder) -> Assistant:
    index = tmp_path_factory.mktemp("trust") / "index"
    settings = load_settings(env={}, corpus_dir=BUNDLED_CORPUS, index_dir=index, progress=False)
    return build_assistant(settings, embedder=e5_embedder)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, e5_embedder) -> Assistant:
    root = tmp_path_factory.mktemp("report")
    corpus = root / "corpus"
    corpus.mkdir()
    make_report(corpus / "rapport.pdf")
    settings = load_settings(env={}, corpus_dir=corpus, index_dir=root / "index", progress=False)
    return build_assistant(settings, embedder=e5_embedder)


def refused(answer, rule: str) -> None:
    assert answer.abstained, answer.text
    assert answer.citations == [] and answer.short_answer is None
    assert answer.abstain_reason is not None and answer.abstain_reason.startswith(f"{rule}:"), answer.abstain_reason


def exact(answer) -> None:
    for c in answer.citations:
        assert TEXT[c.start : c.end] == c.text and f"[{c.n}]" in answer.text


@pytest.mark.parametrize("question", ["Qui dirige EuraTechnologies ?", "Who leads EuraTechnologies?"])
def test_a_question_about_a_person_the_documents_do_not_name_is_refused(panorama: Assistant, question: str) -> None:
    refused(panorama.ask(question), "no_person_named")


@pytest.mark.parametrize("question", [
    "Combien de salariés CapGemini emploie-t-il dans la région ?",
    "How many employees does CapGemini have in the region?",
    "Dans quelle ville Atos a-t-il été créé ?",
])
def test_a_figure_that_belongs_to_another_company_is_not_given(panorama: Assistant, question: str) -> None:
    refused(panorama.ask(question), "attribute_of_other_name")


def test_the_same_figure_asked_about_its_own_company_is_given(panorama: Assistant) -> None:
    answer = panorama.ask("Combien de salariés OVH emploie-t-il dans la région ?")
    assert not answer.abstained and answer.short_answer == "1000"
    assert "emploie 1000 salariés" in answer.citations[0].text
    exact(answer)


@pytest.mark.parametrize(("question", "short", "fragment"), [
    ("How many startups in Lille?", "1791", "1791 startups référencées sur Alloweb"),
    ("En quelle année OVH a-t-il été créé ?", "1999", "créé en 1999"),
    ("Where was OVH founded?", "Roubaix", "à Roubaix"),
    ("Quelle entreprise héberge le plus grand datacentre d'Europe ?", "OVH", "plus grand datacentre"),
    ("Quel est le premier incubateur de startups en France ?", "EuraTechnologies", "premier incubateur"),
])
def test_the_short_answer_comes_first_then_the_cited_quote(panorama: Assistant, question: str, short: str,
                                                           fragment: str) -> None:
    answer = panorama.ask(question)
    assert answer.short_answer == short
    assert answer.text.startswith(f"**{short}**\n\n")
    assert any(fragment in c.text for c in answer.citations), answer.text
    assert short in " ".join(c.text for c in answer.citations)  # the span is quoted, not made up
    exact(answer)
    assert answer.to_dict()["short_answer"] == short


def test_no_short_answer_when_the_sentence_gives_two_figures_equally_close(panorama: Assistant) -> None:
    answer = panorama.ask("Quel est le taux d'emploi dans les entreprises numériques en France hors Île-de-France ?")
    assert not answer.abstained and "2,7% contre 3,2%" in answer.citations[0].text
    assert answer.short_answer is None


@pytest.mark.parametrize("question", ["Quels sont les axes de la stratégie régionale ?",
                                      "What are the axes of the regional strategy?"])
def test_a_list_is_quoted_whole_with_its_lead_in(panorama: Assistant, question: str) -> None:
    answer = panorama.ask(question)
    quoted = [c.text for c in answer.citations]
    assert quoted[0].endswith("stratégie en quatre axes :")
    assert len(quoted) == 5
    for axis, item in zip(AXES, quoted[1:]):
        assert axis in item
    assert [c.n for c in answer.citations] == [1, 2, 3, 4, 5]
    exact(answer)


def test_two_announced_items_are_both_quoted(panorama: Assistant) -> None:
    answer = panorama.ask("Quels sont les deux secteurs d'avenir de la région ?")
    quoted = [c.text for c in answer.citations]
    assert "deux secteurs d’avenir :" in quoted[0]
    assert any("l’IOT" in q for q in quoted) and any("cybersécurité" in q for q in quoted)
    assert len(quoted) == 3


@pytest.mark.parametrize(("question", "fragment"), [
    ("Dans quels domaines la Région veut-elle développer les usages ?", "usages"),
    ("Quels types d'acteurs réunit EuraTechnologies ?", "grands groupes"),
    ("Is the region positioned on the Internet of Things?", "l’IOT"),
])
def test_words_that_frame_the_question_do_not_cause_a_refusal(panorama: Assistant, question: str,
                                                              fragment: str) -> None:
    answer = panorama.ask(question)
    assert not answer.abstained, answer.abstain_reason
    assert any(fragment in c.text for c in answer.citations), answer.text


def test_the_sentence_that_names_the_sources_beats_a_heading(panorama: Assistant) -> None:
    answer = panorama.ask("D'où viennent les données sur les offres d'emploi ?")
    assert not answer.abstained
    assert "LinkedIn" in answer.citations[0].text and "Indeed" in answer.citations[0].text
    assert not answer.citations[0].text.startswith("Top 15")


@pytest.mark.parametrize(("question", "rule"), [
    ("Combien de startups y a-t-il à Amiens ?", "names_not_mentioned"),
    ("Quel est le taux de chômage dans la région ?", "topic_never_mentioned"),
    ("Combien de startups étaient référencées sur Alloweb en 2015 ?", "constraint_not_met"),
])
def test_each_refusal_says_which_rule_fired(panorama: Assistant, question: str, rule: str) -> None:
    refused(panorama.ask(question), rule)


@pytest.mark.parametrize(("question", "year", "learners", "short"), [
    ("Combien d'apprenants la Grande Ecole du Numerique comptait-elle en 2020 ?", "2020", "1 050", "1 050"),
    ("Combien d'apprenants en 2014 ?", "2014", "310", "310"),
    # "learners" names no French column: which of the row's figures is meant is not guessed
    ("How many learners were there in 2022?", "2022", "1 380", None),
])
def test_the_table_row_of_the_year_asked_for_is_cited(report: Assistant, question: str, year: str,
                                                      learners: str, short: str | None) -> None:
    answer = report.ask(question)
    assert not answer.abstained, answer.abstain_reason
    row = answer.citations[0]
    assert row.text.startswith(f"Année: {year} |") and row.text.endswith(f"Apprenants: {learners}")
    assert "Chiffres clés" not in row.text  # the row alone, not joined to the table's title
    assert row.page == (2 if int(year) < 2020 else 3)
    assert answer.short_answer == short


@pytest.mark.parametrize(("question", "rule"), [
    ("Combien d'apprenants la Grande Ecole du Numerique comptait-elle en 2024 ?", "constraint_not_met"),
    ("Combien d'apprenants en 2013 ?", "constraint_not_met"),
    ("Quand le campus numérique de Lille a-t-il ouvert ?", "attribute_of_other_name"),
])
def test_a_neighbouring_year_or_another_place_is_refused(report: Assistant, question: str, rule: str) -> None:
    refused(report.ask(question), rule)


def test_the_campus_question_about_the_right_city_is_answered(report: Assistant) -> None:
    answer = report.ask("Quand le campus numérique d'Amiens a-t-il ouvert ?")
    assert answer.short_answer == "2019" and answer.citations[0].page == 4
