"""Answers that travel to documents nobody tuned on (issue 29), with the real model:
an acronym met by the long form the document writes and the reverse (from the
shipped list, and learned from the corpus itself), conversations whose latest
subject wins, in French and in English, and refusals that say why and show the
closest passage."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BUNDLED_CORPUS, write

from hdf_assistant.assistant import Assistant, build_assistant
from hdf_assistant.config import load_settings

PHARMACIE = ("Ouvrir une pharmacie\n"
             "Pour ouvrir une pharmacie, la demande de licence est adressée à l'agence régionale de santé, "
             "qui répond dans un délai de quatre mois.\n"
             "Le pharmacien doit être inscrit au tableau de l'ordre des pharmaciens.\n")
AGENCES = ("Les agences\n"
           "L'agence régionale de santé (ARS) pilote la politique de santé dans la région.\n"
           "Elle autorise l'ouverture des établissements de soins.\n")
VOTE = ("Voter au bureau de vote\n"
        "Pour voter, vous devez présenter votre carte nationale d'identité ou votre passeport.\n"
        "Le bureau de vote est ouvert de 8 heures à 18 heures.\n")
APPRENTI = ("Apprentissage\n"
            "La rémunération d'un apprenti de 18 ans est de 743 euros par mois la première année.\n"
            "L'apprenti suit des cours dans un centre de formation.\n")
AIDE = ("Aide aux travaux\n"
        "L'Anah peut financer une partie de vos travaux de rénovation énergétique.\n"
        "Le montant de l'aide de l'Anah est au maximum de 2 000 euros pour les ménages aux revenus très modestes.\n")


def _assistant(root: Path, files: dict[str, str], embedder) -> Assistant:
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in files.items():
        write(corpus, name, text)
    settings = load_settings(env={}, corpus_dir=corpus, index_dir=root / "index", progress=False)
    return build_assistant(settings, embedder=embedder)


@pytest.fixture(scope="module")
def fiches(tmp_path_factory: pytest.TempPathFactory, e5_embedder) -> Assistant:
    files = {"pharmacie.txt": PHARMACIE, "agences.txt": AGENCES, "vote.txt": VOTE, "aide.txt": AIDE,
             "apprenti.txt": APPRENTI}
    return _assistant(tmp_path_factory.mktemp("fiches"), files, e5_embedder)


@pytest.fixture(scope="module")
def panorama(tmp_path_factory: pytest.TempPathFactory, e5_embedder) -> Assistant:
    settings = load_settings(env={}, corpus_dir=BUNDLED_CORPUS, index_dir=tmp_path_factory.mktemp("pano") / "index",
                             progress=False)
    return build_assistant(settings, embedder=e5_embedder)


def cites(answer, source: str, fragment: str) -> None:
    assert not answer.abstained, answer.text
    assert any(c.source == source and fragment in c.text for c in answer.citations), answer.text


def test_an_acronym_the_corpus_defines_is_met_by_its_long_form(fiches: Assistant) -> None:
    # "ARS" is not in the shipped list: agences.txt teaches "agence régionale de santé (ARS)" at indexing time,
    # and pharmacie.txt, which answers, only writes the long form
    assert fiches.manifest.files["agences.txt"].acronyms == {"ARS": "agence régionale de santé"}
    answer = fiches.ask("En combien de temps l'ARS répond-elle à une demande de licence de pharmacie ?")
    cites(answer, "pharmacie.txt", "quatre mois")


def test_without_the_definition_the_same_acronym_is_a_name_nobody_mentions(tmp_path: Path, e5_embedder) -> None:
    alone = _assistant(tmp_path, {"pharmacie.txt": PHARMACIE, "vote.txt": VOTE}, e5_embedder)
    answer = alone.ask("En combien de temps l'ARS répond-elle à une demande de licence de pharmacie ?")
    assert answer.abstained and answer.abstain_reason.startswith("names_not_mentioned"), answer.text
    assert "ARS" in answer.why


def test_a_long_form_in_the_question_is_met_by_the_acronym_in_the_passage(fiches: Assistant) -> None:
    # the question writes the agency out in full; the answering sentence only says "Anah" (shipped list)
    answer = fiches.ask("Quel est le montant maximum de l'aide de l'Agence nationale de l'habitat pour des revenus "
                        "très modestes ?")
    cites(answer, "aide.txt", "2 000 euros")
    assert answer.short_answer == "2 000 euros"


def test_a_known_acronym_is_met_by_the_words_the_document_uses(fiches: Assistant) -> None:
    # "CNI": the document writes "carte nationale d'identité"
    answer = fiches.ask("Faut-il présenter sa CNI pour voter ?")
    cites(answer, "vote.txt", "carte nationale d'identité")


def test_the_word_asked_about_may_be_written_in_other_words(fiches: Assistant) -> None:
    # no document writes "salaire": the sentence says "rémunération", and is closer to the question with
    # "salaire" than without it
    answer = fiches.ask("Quel est le salaire d'un apprenti de 18 ans ?")
    cites(answer, "apprenti.txt", "743 euros")


def test_a_thing_the_corpus_never_mentions_is_still_refused(fiches: Assistant, panorama: Assistant) -> None:
    answer = fiches.ask("Quel est le budget de l'agence régionale de santé ?")
    assert answer.abstained and answer.abstain_reason.startswith("topic_never_mentioned"), answer.text
    assert answer.why == "Les documents ne parlent nulle part de « budget »."
    for question in ("Quel est le taux de chômage dans la région ?", "Combien de startups y a-t-il à Amiens ?",
                     "How many inhabitants does Lille have?"):
        assert panorama.ask(question).abstained, question


def test_a_refusal_says_which_check_failed_and_shows_the_closest_passage(panorama: Assistant) -> None:
    answer = panorama.ask("Combien de startups y a-t-il à Amiens ?")
    assert answer.abstained and answer.citations == []
    assert answer.why == "Aucun des passages trouvés ne mentionne « Amiens »."
    assert answer.related is not None and answer.related.source == "panorama_numerique_hauts_de_france.txt"
    assert "1791 startups" in answer.related.text  # related (startups), not an answer (Lille, not Amiens)
    text = (BUNDLED_CORPUS / answer.related.source).read_text(encoding="utf-8")
    assert text[answer.related.start : answer.related.end] == answer.related.text
    lines = answer.text.split("\n")
    assert lines[0] == "Les documents ne contiennent pas la réponse à cette question."
    assert lines[1] == f"Pourquoi : {answer.why}"
    assert lines[2].startswith("Passage le plus proche (ce n'est pas une réponse") and "1791 startups" in lines[2]
    english = panorama.ask("How many startups are there in Marseille?")
    assert english.why == "None of the passages found mentions “Marseille”."
    assert english.text.split("\n")[1] == f"Why: {english.why}"
    assert english.to_dict()["related"]["source"] == "panorama_numerique_hauts_de_france.txt"


@pytest.mark.parametrize("turns", [
    ["How many startups in Lille?", "And where was OVH founded?", "How many employees work there?"],
    ["Combien de startups à Lille ?", "Et où OVH a-t-il été créé ?", "Combien de salariés y travaillent ?"],
    ["Quel est le premier incubateur de France ?", "Et en quelle année OVH a-t-il été créé ?",
     "Combien de salariés emploie-t-il dans la région ?"],
])
def test_the_latest_subject_wins_in_a_three_turn_conversation(panorama: Assistant, turns: list[str]) -> None:
    first = panorama.ask(turns[0])
    second = panorama.ask(turns[1], history=turns[:1])
    assert not first.abstained and not second.abstained
    third = panorama.ask(turns[2], history=turns[:2])
    assert "OVH" in third.search_query
    assert third.short_answer == "1000", third.text  # OVH's employees, not the 1791 startups
    assert any("emploie 1000 salariés" in c.text for c in third.citations)


def test_a_figure_of_something_else_is_not_a_short_answer(panorama: Assistant) -> None:
    # the startups sentence counts startups: it gives no number of employees
    answer = panorama.ask("How many employees do the startups referenced on Alloweb have?")
    assert answer.short_answer != "1791", answer.text


@pytest.mark.parametrize(("question", "why"), [
    ("Combien de salariés CapGemini emploie-t-il dans la région ?",
     "Le chiffre du passage le plus proche concerne un autre nom que « CapGemini »."),
    ("Qui dirige EuraTechnologies ?", "Le passage le plus proche ne nomme aucune personne."),
    ("Combien de startups étaient référencées sur Alloweb en 2015 ?", "Le passage le plus proche ne dit rien pour « 2015 »."),
    ("What is the budget of the regional strategy?", "The documents never mention “budget”."),
])
def test_each_check_says_why_in_the_questions_language(panorama: Assistant, question: str, why: str) -> None:
    answer = panorama.ask(question)
    assert answer.abstained and answer.why == why, answer.text


LOYERS = ("Revenus locatifs inférieurs à 15 000 €\n\n"
          "Régime micro-foncier\n\n"
          "L'administration fiscale applique un abattement forfaitaire de 30 % sur vos loyers. "
          "Les travaux et charges ne peuvent pas être déduits.\n\n"
          "Régime réel\n\n"
          "Vous déduisez vos charges réelles de vos revenus fonciers.\n")
CHIEN = ("Chien perdu\n\n"
         "Un animal trouvé errant est conduit à la fourrière de la commune. "
         "Le propriétaire dispose de 8 jours pour le récupérer.\n")


def test_a_title_is_no_answer_and_an_office_answers_where(tmp_path: Path, e5_embedder) -> None:
    """A heading line ("Régime micro-foncier") is never quoted as the answer; "où" is answered by an
    office named by what it is; "quand" by a moment ("dans les 8 jours"), not only a year."""
    assistant = _assistant(tmp_path, {"loyers.txt": LOYERS, "chien.txt": CHIEN}, e5_embedder)
    for question in ("Micro-foncier : quel abattement ?", "Qu'est-ce que le régime micro-foncier ?"):
        answer = assistant.ask(question)
        assert answer.citations and "abattement forfaitaire de 30 %" in answer.citations[0].text, answer.text
    cites(assistant.ask("Mon chien s'est perdu, où a-t-il pu être emmené ?"), "chien.txt", "fourrière")


@pytest.mark.parametrize(("question", "answers", "other"), [
    ("Combien coûte l'interrogation du fichier des contrats obsèques ?", "L'interrogation du FCDDV coûte 18 €.",
     "Le prêt avec intérêt ne peut pas excéder 2 000 € par prêteur et par projet."),
    ("Où a été fondé OVH ?", "OVH a été fondé à Roubaix en 1999.", "La métropole lilloise compte 1791 startups."),
    ("Quel est le prix d'un passeport pour un mineur ?", "Le passeport d'un mineur de 15 ans et plus coûte 42 €.",
     "La carte d'identité est gratuite."),
])
def test_the_learned_check_finds_an_answering_sentence_more_likely_from_the_embeddings(
        e5_embedder, question: str, answers: str, other: str) -> None:
    # the same named signals for both sentences: only how the e5 vectors meet differs
    from hdf_assistant.answer.abstention import default_model, pair_features

    model = default_model()
    values = {"similarity": 0.86, "names_found": 1.0, "typed": 1.0, "coverage": 1.0}
    q = e5_embedder.embed_queries([question])[0]
    good, bad = e5_embedder.embed_sentences([answers, other])
    assert model.probability(values, pair_features(q, good)) > model.probability(values, pair_features(q, bad))
