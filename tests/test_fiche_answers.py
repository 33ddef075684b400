"""Answers to the questions people ask of a Service-Public-style fiche (a
title, a summary, then sections headed by questions), with the real model:
the summary answers "what is it?" even when the retriever's passage of the
fiche is another one; an explanation is quoted with the sentence that goes
on from it; a heading that is a question is never quoted as the answer."""

from __future__ import annotations

import pytest

from hdf_assistant.assistant import Assistant, build_assistant
from hdf_assistant.config import load_settings

GRACE = """Grâce présidentielle
La grâce présidentielle permet au Président de la République de supprimer ou de réduire la peine d'un condamné. \
Si vous êtes condamné à une peine de prison, vous serez libéré avant d'avoir purgé la totalité de la peine. \
Contrairement à l'amnistie, la grâce n'efface pas la condamnation.
De quoi s'agit-il ?
La grâce est le pouvoir qu'a le Président de la République de dispenser une personne condamnée de l'exécution de \
sa peine. Elle peut porter sur la totalité de la peine ou seulement sur une partie. La grâce présidentielle ne \
concerne que les condamnations définitives.
Qui peut demander une grâce présidentielle ?
La demande de grâce présidentielle peut être faite par la personne condamnée, par son avocat ou par un membre de \
sa famille. Le procureur de la République peut aussi demander une grâce présidentielle.
Comment faire la demande ?
La demande de grâce présidentielle prend la forme d'un recours adressé au Président de la République. Le recours \
en grâce présidentielle est un courrier libre qui expose les raisons de la demande. Il n'y a pas de délai pour \
déposer un recours en grâce présidentielle.
Quelle est la réponse ?
Le Président de la République n'a pas à justifier sa décision d'accorder ou de refuser la grâce présidentielle. \
Un refus de grâce présidentielle ne peut pas être contesté.
"""
AMENDE = """Amende forfaitaire
L'amende forfaitaire est une procédure simplifiée pour certaines contraventions du code de la route. Vous pouvez \
payer l'amende en ligne, par téléphone ou par timbre amende.
Comment contester ?
Vous pouvez contester l'amende forfaitaire dans un délai de 45 jours en adressant une requête en exonération à \
l'officier du ministère public.
"""
CASIER = """Casier judiciaire
Le casier judiciaire recense les condamnations pénales prononcées contre une personne. Vous pouvez demander un \
extrait de casier judiciaire, appelé bulletin n°3, en ligne et gratuitement.
Qui peut consulter le casier ?
Le bulletin n°1 n'est délivré qu'aux autorités judiciaires. Le bulletin n°2 est délivré à certaines administrations.
"""
SUMMARY = "La grâce présidentielle permet au Président de la République de supprimer ou de réduire la peine d'un condamné."
GOES_ON = "Si vous êtes condamné à une peine de prison, vous serez libéré avant d'avoir purgé la totalité de la peine."


@pytest.fixture(scope="module")
def fiches(tmp_path_factory: pytest.TempPathFactory, e5_embedder) -> Assistant:
    root = tmp_path_factory.mktemp("fiches")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in (("grace.txt", GRACE), ("amende.txt", AMENDE), ("casier.txt", CASIER)):
        (corpus / name).write_text(text, encoding="utf-8")
    settings = load_settings(env={}, corpus_dir=corpus, index_dir=root / "index", progress=False)
    assistant = build_assistant(settings, embedder=e5_embedder)
    assistant.reindex()
    return assistant


def quotes(answer) -> list[str]:
    assert not answer.abstained, answer.text
    return [c.text for c in answer.citations]


@pytest.mark.model
@pytest.mark.parametrize("question", ["Qu'est-ce que la grâce présidentielle ?", "What is a presidential pardon?"])
def test_the_summary_answers_what_it_is_then_the_sentence_that_goes_on(fiches: Assistant, question: str) -> None:
    answer = fiches.ask(question)
    said = quotes(answer)
    assert said[:2] == [SUMMARY, GOES_ON], answer.text
    first, second = answer.citations[:2]
    text = GRACE
    assert (first.source, second.source) == ("grace.txt", "grace.txt")
    assert text[first.start : first.end] == SUMMARY and text[second.start : second.end] == GOES_ON
    assert answer.short_answer is None


@pytest.mark.model
def test_a_heading_that_asks_the_question_is_not_quoted(fiches: Assistant) -> None:
    answer = fiches.ask("Qui peut demander une grâce présidentielle ?")
    said = quotes(answer)
    assert not any(s.endswith("?") for s in said), answer.text
    assert any(s.startswith("La demande de grâce présidentielle peut être faite par la personne condamnée")
               for s in said), answer.text


@pytest.mark.model
def test_a_figure_is_one_sentence_with_its_short_answer(fiches: Assistant) -> None:
    answer = fiches.ask("En combien de jours peut-on contester une amende forfaitaire ?")
    assert answer.short_answer == "45 jours"  # a duration says its unit
    assert quotes(answer) == ["Vous pouvez contester l'amende forfaitaire dans un délai de 45 jours en adressant une "
                              "requête en exonération à l'officier du ministère public."]

