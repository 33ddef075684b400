"""The French analyser of the keyword index."""

from hdf_assistant.analysis import analyze, analyze_query, detect_language, normalize_numbers


def test_elisions_are_split_off_and_accents_folded() -> None:
    assert analyze("l'économie") == analyze("économie") == analyze("economie")
    assert analyze("d’ailleurs") == analyze("ailleurs")
    assert analyze("qu'il s'agit") == analyze("agit")
    assert analyze("Référencées") == analyze("referencees")
    assert analyze("jusqu'à Lille") == analyze("Lille")


def test_stopwords_are_dropped_and_words_stemmed() -> None:
    assert analyze("les startups de la région") == analyze("startup région")
    assert analyze("entreprises") == analyze("entreprise")
    assert analyze("le la les des du de et") == []


def test_thousands_separators_and_decimals() -> None:
    forms = ["1791", "1 791", "1\u00a0791", "1\u202f791", "1.791", "1,791"]
    assert {tuple(analyze(f"{f} startups")) for f in forms} == {tuple(analyze("1791 startups"))}
    assert "1791" in analyze("1 791 startups")
    assert "15000" in analyze("près de 15 000 salariés")
    assert "2.7" in analyze("2,7 %") and "2.7" in analyze("2.7%")
    assert "27" not in analyze("2,7 %")
    assert "6000" in analyze("aides plafonnées à 6 000€")
    assert normalize_numbers("1 234 567,5") == "1234567.5"


def test_hyphenated_words_give_parts_and_the_joined_form() -> None:
    terms = analyze("l'e-santé")
    assert set(analyze("santé")) <= set(terms) and "esant" in terms
    assert analyze("e-santé") == terms
    assert set(analyze("France")) <= set(analyze("Hauts-de-France"))


def test_questions_in_english_are_detected_and_analysed() -> None:
    assert detect_language("How many startups in Lille?") == "en"
    assert detect_language("Combien de startups à Lille ?") == "fr"
    terms = analyze_query("How many startups are there in Lille?")
    assert "startup" in terms and "lill" in terms
    assert "how" not in terms and "are" not in terms


def test_arbitrary_text_never_breaks() -> None:
    for text in ["", "   ", "!!!", "😀 emoji", "\x00\x01", "ß ſ ﬁ Ⅻ", "-", "'"]:
        assert isinstance(analyze(text), list)
