"""The kind of answer a question wants comes from the word that asks it: "quand" and "où" ask only at the
start of the question or of a clause, after a verb of asking, or last; elsewhere they join a clause, and
"ou" (or) asks nothing."""

from __future__ import annotations

import pytest

from hdf_assistant.answer import answer_type


@pytest.mark.parametrize(("question", "kind"), [
    ("Quand OVH a-t-il été créé ?", "year"),
    ("OVH a été créé quand ?", "year"),
    ("Depuis quand la fibre est-elle déployée ?", "year"),
    ("When was OVH founded?", "year"),
    ("Où se trouve le siège d'OVH ?", "place"),
    ("ou se trouve le siège d'OVH ?", "place"),  # typed without the accent
    ("Mon chat s'est perdu, où peut-il avoir été emmené ?", "place"),
    ("Je voudrais savoir où déposer ma demande.", "place"),
    ("Where is the largest datacentre?", "place"),
    # "quand" joining a clause, "ou" meaning "or": no date, no place asked
    ("Comment obtenir mon casier judiciaire quand je suis né en Martinique ?", "other"),
    ("Que faire quand on perd sa carte d'identité ?", "other"),
    ("What should I do when I lose my card?", "other"),
    ("Viager : comment vendre ou acheter un logement en viager ?", "other"),
    ("Peut-on installer une caravane ou un mobile-home dans son jardin ?", "other"),
    ("Combien coûte un passeport demandé au consulat quand on vit à l'étranger ?", "number"),
])
def test_the_word_that_asks_gives_the_kind(question: str, kind: str) -> None:
    assert answer_type(question) == kind


def test_a_when_or_where_question_is_met_by_a_moment_or_an_office() -> None:
    """"Quand" is answered by a date or a moment, not only a year; "où" by an office named by what it is."""
    from hdf_assistant.answer.answerer import _type_match
    from hdf_assistant.answer.question import analyse_question

    when = analyse_question("Quand faut-il déclarer la naissance ?")
    assert _type_match(when, "La déclaration est faite dans les 5 jours qui suivent l'accouchement.") == 1.0
    assert _type_match(when, "Elle a été créée en 1999.") == 1.0
    assert _type_match(when, "La déclaration est faite par le père.") == 0.0
    where = analyse_question("Où faire la demande de carte grise ?")
    assert _type_match(where, "La demande se fait à la préfecture de votre département.") == 1.0
    assert _type_match(where, "La demande est gratuite.") == 0.0
