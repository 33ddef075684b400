"""Extractive answers on the bundled panorama: the right sentence, cited
exactly, abstention when the documents are silent, follow-up questions."""

from __future__ import annotations

import pytest
from conftest import BUNDLED_CORPUS

from hdf_assistant.answer import answer_type, question_entities
from hdf_assistant.answer.conversation import contextualize, is_follow_up
from hdf_assistant.assistant import Assistant, build_assistant
from hdf_assistant.config import load_settings

PANORAMA = "panorama_numerique_hauts_de_france.txt"
TEXT = (BUNDLED_CORPUS / PANORAMA).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory, e5_embedder) -> Assistant:
    index = tmp_path_factory.mktemp("answers") / "index"
    settings = load_settings(env={}, corpus_dir=BUNDLED_CORPUS, index_dir=index, progress=False)
    return build_assistant(settings, embedder=e5_embedder)


def assert_cites(answer, fragment: str) -> None:
    assert not answer.abstained, answer.text
    assert any(fragment in c.text for c in answer.citations), answer.text
    for c in answer.citations:
        assert c.source == PANORAMA and c.page is None
        assert TEXT[c.start : c.end] == c.text  # the exact sentence, at its exact place
        assert f"[{c.n}]" in answer.text


def test_how_many_startups_is_one_cited_sentence(assistant: Assistant) -> None:
    answer = assistant.ask("How many startups in Lille?")
    assert_cites(answer, "1791 startups référencées sur Alloweb")
    assert len(answer.citations) == 1 and "[1]" in answer.text and "1791" in answer.text
    assert answer.short_answer == "1791"
    assert answer.text.startswith("**1791**\n\nAccording to the documents")  # short answer first, then the quote
    assert answer.citations[0].text.count(".") == 1  # one sentence, not the passage


@pytest.mark.parametrize(
    ("question", "kind", "fragment", "expected"),
    [
        ("Combien de startups sont référencées à Lille ?", "number", "1791 startups", "1791"),
        ("En quelle année OVH a-t-il été créé ?", "year", "créé en 1999", "1999"),
        ("Dans quelle ville OVH a-t-il été créé ?", "place", "à Roubaix", "Roubaix"),
        ("Where is the largest datacentre in Europe?", "place", "plus grand datacentre", "Roubaix"),
        ("Quelle entreprise héberge le plus grand datacentre d'Europe ?", "org", "OVH", "OVH"),
        ("Quel est le plafond des aides pour les artisans ?", "number", "6 000€", "6 000"),
        ("Which research organisation is part of EuraTechnologies?", "org", "INRIA", "INRIA"),
    ],
)
def test_each_answer_type(assistant: Assistant, question: str, kind: str, fragment: str, expected: str) -> None:
    assert answer_type(question) == kind
    answer = assistant.ask(question)
    assert_cites(answer, fragment)
    assert expected in answer.text
    lead = "D'après les documents" if " ?" in question else "According to the documents"
    assert answer.text.startswith(lead) or answer.text.split("\n\n", 1)[1].startswith(lead)


@pytest.mark.parametrize(
    "question",
    [
        "Combien de startups y a-t-il à Amiens ?",  # a place the documents do not mention
        "Quel est le taux de chômage dans la région ?",  # a topic they do not cover
        "Qui est le président de la Région Hauts-de-France ?",
        "What is the GDP of Hauts-de-France?",
        "How many startups are there in Marseille?",
    ],
)
def test_abstains_when_the_documents_are_silent(assistant: Assistant, question: str) -> None:
    answer = assistant.ask(question)
    assert answer.abstained, answer.text
    assert answer.citations == []
    silent = "do not contain" if question.endswith("?") and " ?" not in question else "ne contiennent pas"
    assert silent in answer.text


def test_follow_up_with_a_pronoun_in_french(assistant: Assistant) -> None:
    history = ["Quelle entreprise a été créée à Roubaix en 1999 ?"]
    question = "Et combien de salariés y travaillent ?"
    assert is_follow_up(question)
    answer = assistant.ask(question, history=history)
    assert "Roubaix" in answer.search_query
    assert_cites(answer, "emploie 1000 salariés")


def test_follow_up_with_an_ellipsis_in_english(assistant: Assistant) -> None:
    history = ["Which two sectors of the future is the region positioned on?"]
    answer = assistant.ask("Which centre supports the first one?", history=history)
    assert "sectors" in answer.search_query
    assert_cites(answer, "CITC")


def test_question_without_follow_up_is_left_alone() -> None:
    question = "Combien de startups sont référencées sur Alloweb ?"
    assert contextualize(question, ["Où se trouve OVH ?"]) == question
    assert contextualize("Et en 2019 ?", []) == "Et en 2019 ?"
    # short, but asking what something is: complete ("est-ce" is not the pronoun "ce")
    for standalone in ["Qu'est-ce qu'EuraTechnologies ?", "Qu’est-ce que la médiation familiale ?",
                       "What is EuraTechnologies?", "Est-ce que la Région soutient les startups ?"]:
        assert contextualize(standalone, ["Où OVH a-t-il été créé ?"]) == standalone
    for follow_up in ["Qu'est-ce que c'est ?", "What is it?", "Est-ce que ce pôle est le premier ?", "Combien à Amiens ?"]:
        assert contextualize(follow_up, ["Où OVH a-t-il été créé ?"]) != follow_up


def test_a_question_about_another_name_mid_conversation_is_answered_about_it(assistant: Assistant) -> None:
    answer = assistant.ask("Qu'est-ce qu'EuraTechnologies ?",
                           history=["Combien de startups à Lille ?", "Et où OVH a-t-il été créé ?"])
    assert answer.search_query == "Qu'est-ce qu'EuraTechnologies ?"
    assert_cites(answer, "pôles comme EuraTechnologies, qui réunit de grands groupes")


def test_names_in_questions() -> None:
    assert question_entities("Combien de startups à Lille ?") == ["Lille"]
    assert question_entities("What is the GDP of Hauts-de-France?") == ["GDP", "Hauts-de-France"]
    assert question_entities("Quel est le taux ?") == []


def test_quote_mode_returns_the_whole_passage(assistant: Assistant) -> None:
    answer = assistant.ask("How many startups in Lille?", mode="quote")
    assert answer.mode == "quote" and "1791" in answer.citations[0].text
    assert len(answer.citations[0].text) > 300
