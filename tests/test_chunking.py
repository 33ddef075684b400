from hdf_assistant.ingest.chunking import chunk_document, chunk_spans, split_sentences
from hdf_assistant.schema import SourceDocument


def sentences(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text)]


def test_abbreviations_numbers_and_elisions_stay_inside_sentences() -> None:
    text = (
        "M. Dupont dirige la société à Lille. Le taux est de 2,7 % contre 3,2 % en France. "
        "La scène est d'ailleurs très active ! Les aides sont plafonnées à 6 000 € par projet. "
        "J. Martin l'a confirmé, cf. p. 12 du rapport."
    )
    assert sentences(text) == [
        "M. Dupont dirige la société à Lille.",
        "Le taux est de 2,7 % contre 3,2 % en France.",
        "La scène est d'ailleurs très active !",
        "Les aides sont plafonnées à 6 000 € par projet.",
        "J. Martin l'a confirmé, cf. p. 12 du rapport.",
    ]


def test_wrapped_lines_join_but_headings_and_bullets_split() -> None:
    text = (
        "Stratégie régionale\n"
        "Données recensées sur les offres d'emploi publiées par région sur LinkedIn et\n"
        "Indeed en septembre 2020, sur un panel de 55 métiers.\n"
        "Deux secteurs d'avenir :\n- l'IOT,\n- et la cybersécurité."
    )
    assert sentences(text) == [
        "Stratégie régionale",
        "Données recensées sur les offres d'emploi publiées par région sur LinkedIn et\n"
        "Indeed en septembre 2020, sur un panel de 55 métiers.",
        "Deux secteurs d'avenir :",
        "- l'IOT,",
        "- et la cybersécurité.",
    ]


def test_long_sentence_is_cut_between_words_never_inside_figures() -> None:
    sentence = (
        "La Région accorde des aides plafonnées à 6 000 € aux artisans, avec un taux de 2,7 % "
        "d'ailleurs, et finance des projets numériques dans tous les territoires "
    ) * 6
    text = sentence.strip() + "."
    spans = chunk_spans(text, size=120, overlap=0)
    assert len(spans) > 3
    for span in spans:
        piece = text[span.start : span.end]
        assert len(piece) <= 120
        assert not piece.startswith(("000", "€", "%", "ailleurs"))
        assert not piece.endswith(("6", "2,7", "d'"))


def test_chunks_keep_exact_spans_and_whole_sentences() -> None:
    text = " ".join(f"Phrase numéro {i} sur l'économie numérique des Hauts-de-France." for i in range(40))
    doc = SourceDocument("a.txt", text, "h" * 64)
    chunks = chunk_document(doc, size=300, overlap=1)
    assert len(chunks) > 5
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert len(chunk.text) <= 300
        assert chunk.text.startswith("Phrase") and chunk.text.endswith(".")
    # one sentence of overlap: each chunk starts with the last sentence of the previous one
    assert chunks[1].text.split(".")[0] in chunks[0].text
    # the whole text is covered
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
    assert len({c.id for c in chunks}) == len(chunks)


def test_document_lead_is_the_opening_sentences_of_the_file() -> None:
    from hdf_assistant.ingest.chunking import LEAD_CHARS, document_lead

    text = ("Comité social et économique (CSE) : moyens matériels.\n\nPour exercer ses missions, le CSE dispose "
            "d'un local.   Les membres du CSE bénéficient de formations. Le budget dépend de l'effectif.")
    assert document_lead(text) == (
        "Comité social et économique (CSE) : moyens matériels. Pour exercer ses missions, le CSE dispose d'un "
        "local. Les membres du CSE bénéficient de formations."
    )
    long = "Une phrase très longue " + "et encore plus longue " * 40 + "."
    lead = document_lead(long)
    assert LEAD_CHARS - 10 < len(lead) <= LEAD_CHARS and long.startswith(lead)
    assert document_lead("") == "" and document_lead("  \n ") == ""
