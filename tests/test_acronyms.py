"""Acronyms, ranges and what a question asks for (issue 29), without a model:
definitions read from documents and kept in the manifest of both stores (an
older index gets them at its next refresh, nothing embedded), the forms matched
either way, a number met inside a range the passage states, the value a number
question wants, and the noun a question asks about."""

from __future__ import annotations

import json

import pytest
from conftest import live_index, write

from hdf_assistant.answer.constraints import holds
from hdf_assistant.answer.question import focus_terms
from hdf_assistant.answer.units import counted_terms, gives_count, gives_unit, question_unit
from hdf_assistant.assistant import refresh_index
from hdf_assistant.index.state import current_state_dir
from hdf_assistant.ingest.acronyms import AcronymTable, builtin_forms, definitions


@pytest.mark.parametrize(("text", "found"), [
    ("Présentez votre carte nationale d'identité (CNI) au guichet.", {"CNI": "carte nationale d'identité"}),
    ("Le RGPD (règlement général sur la protection des données) s'applique.",
     {"RGPD": "règlement général sur la protection des données"}),
    ("auprès de l'Agence nationale de l'habitat (Anah) du département", {"ANAH": "Agence nationale de l'habitat"}),
    ("vous percevez l'allocation aux adultes handicapés (AAH) ou", {"AAH": "allocation aux adultes handicapés"}),
    ("le fichier national des comptes bancaires et assimilés (Ficoba) recense",
     {"FICOBA": "fichier national des comptes bancaires et assimilés"}),
    # a heading in parentheses, a word in capitals, a parenthesis that is not a long form: nothing learned
    ("Cas général (Caf) Vous devez", {}),
    ("Régime agricole (MSA)", {}),
    ("Depuis septembre 2014 (Pinel)", {}),
    ("RSA (refus d'attribution, contestation du montant attribué, etc.)", {}),
])
def test_definitions_are_read_only_when_the_letters_fit(text: str, found: dict[str, str]) -> None:
    assert definitions(text) == found


def test_the_table_matches_forms_both_ways_and_learns_from_the_corpus() -> None:
    assert "carte nationale d'identité" in builtin_forms()["CNI"]
    table = AcronymTable([{"ARS": "agence régionale de santé"}])
    assert table.forms("ars") == ("agence régionale de santé",)
    assert table.acronyms_in("Que fait l'Agence Régionale de Santé ?") == {"ARS"}
    assert "CNI" in table.acronyms_in("munissez-vous de votre carte nationale d'identité")
    assert "ARS" not in AcronymTable()  # learned, not shipped


def test_the_manifest_keeps_each_files_acronyms_and_an_older_index_gets_them(backend_settings, corpus,
                                                                           fake_embedder) -> None:
    write(corpus, "ars.txt", "L'agence régionale de santé (ARS) autorise les pharmacies.")
    write(corpus, "vote.txt", "Pour voter, présentez votre carte d'identité.")
    refresh_index(backend_settings, lambda: fake_embedder)
    files = live_index(backend_settings).manifest.files
    assert files["ars.txt"].acronyms == {"ARS": "agence régionale de santé"} and files["vote.txt"].acronyms == {}
    if backend_settings.store != "local":
        return
    # an index written before acronyms were kept: its manifest has no such key
    path = current_state_dir(backend_settings.index_dir) / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    for entry in data["files"].values():
        del entry["acronyms"]
    path.write_text(json.dumps(data), encoding="utf-8")
    assert live_index(backend_settings).manifest.files["ars.txt"].acronyms is None
    embedded_before = len(fake_embedder.embedded)
    report = refresh_index(backend_settings, lambda: fake_embedder)
    assert report.embedded_chunks == 0 and len(fake_embedder.embedded) == embedded_before  # read from the stored text
    assert live_index(backend_settings).manifest.files["ars.txt"].acronyms == {"ARS": "agence régionale de santé"}


@pytest.mark.parametrize(("text", "value", "met"), [
    ("Vous pouvez demander le RSA jeune actif si vous êtes âgé de 18 à 25 ans", "22", True),
    ("Taux compris entre 0,5 et 0,8 g/l", "0,6", True),
    ("Retraite complémentaire Entre 101 et 199 points", "150", True),
    ("Le PEL ouvert depuis le 1 er janvier 2018 n'ouvre pas droit à la prime", "2019", True),
    ("À partir de 25 ans, il n'est plus nécessaire de justifier", "27", True),
    ("1791 startups référencées", "1 791", True),
    # a neighbouring value is no range: the year asked for must be there
    ("En 2019, les entreprises employaient près de 15 000 salariés.", "2018", False),
    ("avant 2018 les règles étaient autres", "2019", False),
    ("moins de 25 ans", "27", False),
    ("Salariés : 1 230 en 2021", "2020", False),
])
def test_a_number_the_question_gives_is_met_inside_a_range(text: str, value: str, met: bool) -> None:
    assert holds(text, value) is met


def test_the_value_a_number_question_wants() -> None:
    assert question_unit("Combien coûte un passeport ?") == "money"
    assert question_unit("Combien de temps dure le stage ?") == "duration"
    assert question_unit("En combien de jours peut-on contester ?") == "duration"
    assert question_unit("À quel âge peut-on voter ?") == "age"
    assert question_unit("Quel est le taux de chômage ?") == "percent"
    assert question_unit("Combien de startups à Lille ?") is None
    assert gives_unit("money", "Le passeport coûte 86 €") and not gives_unit("money", "Le passeport est valable 10 ans")
    assert gives_unit("duration", "un délai de quatre mois") and not gives_unit("duration", "Il coûte 25 €.")
    employees = counted_terms("How many employees work there?")
    assert employees == counted_terms("Combien de salariés y travaillent ?")  # English asked, French written
    assert gives_count("OVH emploie 1000 salariés dans la région", employees)
    assert not gives_count("avec 1791 startups référencées", employees)
    assert not gives_count("aides plafonnées à 6 000€", counted_terms("Combien d'emplois ?"))
    assert gives_count("Le conseil comprend 14 membres", counted_terms("Combien de personnes siègent ?"))


@pytest.mark.parametrize(("question", "focus"), [
    ("Quel est le budget de la Région ?", ["budget"]),
    ("Quel est le nombre d'habitants de Roubaix ?", ["habitants"]),
    ("Quel est le chiffre d'affaires d'OVH ?", ["affaires"]),
    ("Qui est le maire de Roubaix ?", ["maire"]),
    ("Quelle est la durée maximale d'un bail mobilité ?", ["bail"]),
    # the noun after "quel" names the kind of answer; a frame word is no focus; a name neither
    ("Quel organisme de recherche est cité ?", []),
    ("Quelle est la durée ?", []),
    ("Combien coûte la recherche d'un contrat ?", []),
    ("Combien d'EuraTechnologies ?", []),
])
def test_the_noun_a_question_asks_about(question: str, focus: list[str]) -> None:
    assert [word for word, _ in focus_terms(question)] == focus
