"""Each abstention rule on its own (no model): the question analysed once,
a candidate sentence, the evidence around it."""

from __future__ import annotations

import numpy as np
import pytest

from hdf_assistant.analysis import analyze
from hdf_assistant.answer import analyse_question, default_model
from hdf_assistant.answer.abstention import (
    FEATURES,
    attribute_of_other_name,
    constraint_not_met,
    names_not_mentioned,
    no_person_named,
    pair_features,
    topic_never_mentioned,
)
from hdf_assistant.answer.candidates import ITEM, ROW, Candidate, candidate_sentences
from hdf_assistant.answer.evidence import Evidence, more_of_best_document
from hdf_assistant.answer.short_answer import short_answer
from hdf_assistant.schema import Chunk, ScoredChunk

OVH = ("On retrouve d’abord des acteurs historiques, avec notamment OVH, créé en 1999 à Roubaix, qui emploie "
       "1000 salariés dans la région mais aussi CapGemini, Atos, CGI...")


def candidate(text: str, section: str | None = None) -> Candidate:
    chunk = Chunk("c1", text, "doc.txt", None, 0, len(text), "h", section)
    return Candidate(ScoredChunk(chunk, 1.0), 1, 0, len(text), text, text)


def evidence(text: str, frequencies: dict[str, int] | None = None) -> Evidence:
    terms = set(analyze(text))
    return Evidence(terms, terms, frequencies if frequencies is not None else {t: 1 for t in terms}, 10)


def test_a_figure_in_another_clause_belongs_to_another_name() -> None:
    ev = evidence(OVH)
    capgemini = analyse_question("Combien de salariés CapGemini emploie-t-il dans la région ?")
    assert attribute_of_other_name(capgemini, candidate(OVH), ev) == "the figure is about another name than CapGemini"
    ovh = analyse_question("Combien de salariés OVH emploie-t-il dans la région ?")
    assert attribute_of_other_name(ovh, candidate(OVH), ev) is None
    assert short_answer(ovh, candidate(OVH)) == "1000"


def test_a_sentence_framed_by_another_place_does_not_answer_for_this_one() -> None:
    amiens = "A Amiens, un campus numerique a ouvert en 2019."
    lille = analyse_question("Quand le campus numérique de Lille a-t-il ouvert ?")
    assert attribute_of_other_name(lille, candidate(amiens), evidence(amiens)) == \
        "the passage is about Amiens, not Lille"
    assert attribute_of_other_name(analyse_question("Quand le campus d'Amiens a-t-il ouvert ?"), candidate(amiens),
                                   evidence(amiens)) is None


def test_a_year_the_question_gives_must_be_in_the_row() -> None:
    row = "Année: 2019 | Formations labellisées: 41 | Apprenants: 905"
    q = analyse_question("Combien d'apprenants en 2020 ?")
    assert q.years == ("2020",)
    assert constraint_not_met(q, candidate(row), evidence(row)) == "not in the passage: 2020"
    q2019 = analyse_question("Combien d'apprenants en 2019 ?")
    assert constraint_not_met(q2019, candidate(row), evidence(row)) is None
    assert short_answer(q2019, candidate_sentences([ScoredChunk(candidate(row).result.chunk, 1.0)], 1)[0]) == "905"


def test_a_name_missing_from_the_evidence_but_spelled_out_initials_count() -> None:
    text = "La région est positionnée sur l’IOT et la cybersécurité."
    ev = evidence(text)
    assert names_not_mentioned(analyse_question("Combien de startups à Amiens ?"), candidate(text), ev) == \
        "not mentioned: Amiens"
    iot = analyse_question("Is the region positioned on the Internet of Things?")
    assert iot.name_groups == ("Internet of Things",)
    assert names_not_mentioned(iot, candidate(text), ev) is None


def test_a_topic_no_document_mentions_but_not_the_words_that_frame_the_question() -> None:
    text = "La Région veut développer les usages : tourisme, santé, culture."
    ev = evidence(text, {"usag": 3, "region": 5, "taux": 2})
    assert topic_never_mentioned(analyse_question("Quel est le taux de chômage dans la région ?"), candidate(text),
                                 ev) == "never mentioned: chomage"
    framed = analyse_question("Dans quels domaines la Région veut-elle développer les usages ?")
    assert topic_never_mentioned(framed, candidate(text), ev) is None
    assert topic_never_mentioned(analyse_question("Quels types d'usages la Région développe-t-elle ?"),
                                 candidate(text), ev) is None


def test_a_person_question_needs_a_person_in_the_sentence() -> None:
    q = analyse_question("Qui dirige EuraTechnologies ?")
    assert q.kind == "person"
    pole = "EuraTechnologies réunit de grands groupes, des laboratoires comme l’INRIA et des startups."
    assert no_person_named(q, candidate(pole), evidence(pole)) == "no person is named"
    named = "EuraTechnologies est dirigé par Raouti Chehih depuis 2009."
    assert no_person_named(q, candidate(named), evidence(named)) is None
    assert short_answer(q, candidate(named)) == "Raouti Chehih"
    # "qui peut" asks who is eligible, not for a named person
    assert analyse_question("Qui peut demander une carte grise ?").kind == "other"


def test_items_without_bullets_follow_their_lead_in_and_rows_stand_alone() -> None:
    text = ("Votre bail peut être résilié :\nsi vos revenus dépassent le plafond deux années de suite,\n"
            "et si votre logement est situé en zone A.\nChiffres clés\nAnnée: 2020 | Apprenants: 1 050")
    chunk = Chunk("c1", text, "doc.txt", None, 0, len(text), "h")
    found = candidate_sentences([ScoredChunk(chunk, 1.0)], 1)
    kinds = {c.text: c.kind for c in found}
    assert kinds["si vos revenus dépassent le plafond deux années de suite,"] == ITEM
    assert kinds["Année: 2020 | Apprenants: 1 050"] == ROW
    item = next(c for c in found if c.kind == ITEM)
    assert item.lead_in is not None and item.lead_in.text == "Votre bail peut être résilié :"


def test_the_shipped_abstention_model_weighs_every_signal() -> None:
    model = default_model()
    assert set(model.weights) == set(FEATURES) and 0 < model.threshold < 1
    strong = {"similarity": 0.9, "similarity_z": 3.0, "passage_z": 4.0, "overlap": 1.0, "coverage": 1.0,
              "sentence_coverage": 1.0, "absent_share": 0.0, "names_found": 1.0, "typed": 1.0,
              "keyword_agreement": 1.0, "kind_other": 0.0, "english": 0.0}
    weak = dict(strong, similarity=0.8, passage_z=1.0, overlap=0.2, coverage=0.3, sentence_coverage=0.0,
                absent_share=0.5, keyword_agreement=0.0)
    # it also weighs how the question's and the sentence's e5 vectors (384 numbers each) meet: the
    # same pair for both here
    assert len(model.pair_weights) == 2 * 384
    rng = np.random.default_rng(0)
    q = rng.normal(size=384)
    s = q + rng.normal(scale=0.5, size=384)
    pair = pair_features(q / np.linalg.norm(q), s / np.linalg.norm(s))
    assert model.probability(strong, pair) > model.probability(weak, pair)
    with pytest.raises(ValueError, match="pair_features"):
        model.probability(strong)


def test_a_table_row_is_never_joined_to_the_title_above_it() -> None:
    # a page's blocks are stored one after the other: the title line follows the prose on the same line
    text = "Le réseau a accueilli 4 380 visiteurs en 2022.   Chiffres clés\nAnnée: 2021 | Ateliers: 310"
    chunk = Chunk("c1", text, "doc.pdf", 2, 0, len(text), "h")
    found = {c.text: c.kind for c in candidate_sentences([ScoredChunk(chunk, 1.0)], 1)}
    assert found["Année: 2021 | Ateliers: 310"] == ROW
    assert not any("Chiffres clés" in t and "Année" in t for t in found)


def test_a_count_written_in_words_is_the_short_answer_when_there_is_no_figure() -> None:
    q = analyse_question("Combien de tiers-lieux numériques dans la Somme ?")
    assert short_answer(q, candidate("La Somme compte neuf tiers-lieux numériques labellisés.")) == "neuf"
    # a figure, when there is one, is the answer; and "un" is an article, not a count
    assert short_answer(q, candidate("La Somme compte 9 tiers-lieux, deux fois plus qu'en 2020.")) == "9"
    assert short_answer(q, candidate("La Somme compte un réseau de tiers-lieux numériques.")) is None


def test_a_name_common_in_a_large_corpus_only_has_to_be_in_the_document() -> None:
    """"France" in most Service-Public fiches does not have to be repeated beside
    the answer; in a small corpus (a few documents) every name still does."""
    sentence = "Vous devez demander une carte de séjour portant la mention salarié."
    q = analyse_question("Étranger : comment obtenir une carte de séjour pour travailler en France ?")
    document = set(analyze(sentence + " Les étrangers qui vivent en France doivent avoir un titre de séjour."))
    near = set(analyze(sentence))
    large = Evidence(document, near, {"franc": 900}, 10_000)
    assert names_not_mentioned(q, candidate(sentence), large) is None
    rare = Evidence(document, near, {"franc": 40}, 10_000)
    assert names_not_mentioned(q, candidate(sentence), rare) == "not mentioned: France"
    small = Evidence(document, near, {"franc": 30}, 40)  # in most passages of a small corpus: still required
    assert names_not_mentioned(q, candidate(sentence), small) == "not mentioned: France"
    absent = Evidence(near, near, {"franc": 900}, 10_000)  # common, but not in this document
    assert names_not_mentioned(q, candidate(sentence), absent) == "not mentioned: France"


class _Fiche:
    """The part of the index the answerer reads, over one document of four passages."""

    def __init__(self) -> None:
        texts = ["Titre. Le résumé de la fiche.", "Une section.", "La section qui répond.", "Une autre section."]
        self.chunks = {f"f{i}": Chunk(f"f{i}", t, "fiche.txt", None, 100 * i, 100 * i + len(t), "h", None)
                       for i, t in enumerate(texts)}

    def chunk_ids_of(self, source: str) -> list[str]:
        return list(self.chunks) if source == "fiche.txt" else []

    def chunk(self, chunk_id: str) -> Chunk:
        return self.chunks[chunk_id]

    def dense_scores(self, vector, chunk_ids) -> np.ndarray:
        return np.array([{"f0": 0.1, "f1": 0.3, "f2": 0.9, "f3": 0.5}[c] for c in chunk_ids])


def test_the_best_documents_opening_and_nearest_passages_join_the_candidates() -> None:
    fiche = _Fiche()
    retrieved = [ScoredChunk(fiche.chunks["f1"], 1.0), ScoredChunk(Chunk("o", "Autre.", "autre.txt", None, 0, 6, "h"),
                                                                      0.5)]
    more = more_of_best_document(retrieved, 5, fiche, np.zeros(3), 2)
    assert [r.chunk.id for r in more] == ["f0", "f2"]  # the opening first, then the nearest one not retrieved
    assert more_of_best_document(retrieved, 5, fiche, np.zeros(3), 0) == []
    assert more_of_best_document(retrieved, 5, None, np.zeros(3), 2) == []
    opening_retrieved = [ScoredChunk(fiche.chunks["f0"], 1.0)]
    assert [r.chunk.id for r in more_of_best_document(opening_retrieved, 5, fiche, np.zeros(3), 2)] == ["f2", "f3"]


def test_an_e5_model_of_another_size_answers_with_the_similarity_floor_not_the_shipped_model() -> None:
    from hdf_assistant.answer import ExtractiveAnswerer

    class OtherE5:
        model_id = "intfloat/multilingual-e5-base"
        dim = 768

    class SmallE5(OtherE5):
        model_id = "multilingual-e5-small"
        dim = 384

    assert ExtractiveAnswerer(OtherE5()).model is None  # type: ignore[arg-type]
    assert ExtractiveAnswerer(SmallE5()).model is default_model()  # type: ignore[arg-type]
