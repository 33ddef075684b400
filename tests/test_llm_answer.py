"""Generated answers through a real OpenAI-compatible client against a local
scripted server: a well-cited reply is kept, a reply citing the wrong
passage or inventing a number is rejected."""

from __future__ import annotations

import pytest
from conftest import BUNDLED_CORPUS
from fake_openai import fake_openai_server

from hdf_assistant.answer.llm import SYSTEM_PROMPT
from hdf_assistant.assistant import build_assistant
from hdf_assistant.config import load_settings

PANORAMA = "panorama_numerique_hauts_de_france.txt"
TEXT = (BUNDLED_CORPUS / PANORAMA).read_text(encoding="utf-8")


def n_of(passages: list[str], fragment: str, present: bool = True) -> int:
    return next(i for i, p in enumerate(passages, start=1) if (fragment in p) == present)


def well_cited(question: str, passages: list[str]) -> str:
    return f"La métropole lilloise compte 1791 startups référencées sur Alloweb [{n_of(passages, '1791')}]."


def wrong_passage(question: str, passages: list[str]) -> str:
    return f"La métropole lilloise compte 1791 startups référencées sur Alloweb [{n_of(passages, '1791', False)}]."


def invented_number(question: str, passages: list[str]) -> str:
    return f"La métropole lilloise compte 2500 startups référencées sur Alloweb [{n_of(passages, '1791')}]."


def mixed(question: str, passages: list[str]) -> str:
    return well_cited(question, passages) + " Le PIB de la région atteint 1000 milliards d'euros [1]."


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("llm") / "index"


def assistant_for(url: str, index_dir, e5_embedder):
    settings = load_settings(
        env={"HDF_LLM_BASE_URL": url, "HDF_LLM_MODEL": "fake-model", "HDF_ANSWER_MODE": "llm"},
        corpus_dir=BUNDLED_CORPUS, index_dir=index_dir, progress=False,
    )
    return build_assistant(settings, embedder=e5_embedder)


def test_well_cited_reply_is_kept_and_streamed(index_dir, e5_embedder) -> None:
    with fake_openai_server(well_cited) as (url, requests):
        assistant = assistant_for(url, index_dir, e5_embedder)
        tokens: list[str] = []
        answer = assistant.ask("Combien de startups à Lille ?", on_token=tokens.append)
    assert answer.mode == "llm" and answer.verified is True and not answer.abstained
    assert "1791" in answer.text and answer.text.endswith("[1]")
    assert len(tokens) > 3 and "".join(tokens).startswith("La métropole lilloise")
    citation = answer.citations[0]
    assert "1791 startups référencées sur Alloweb" in citation.text
    assert TEXT[citation.start : citation.end] == citation.text
    # the protocol: system prompt, delimited passages, streaming asked for
    body = requests[0]
    assert body["stream"] is True and body["model"] == "fake-model"
    assert body["messages"][0]["content"] == SYSTEM_PROMPT
    assert "<passage n=\"1\"" in body["messages"][1]["content"]


def test_stream_gives_the_draft_then_the_checked_answer(index_dir, e5_embedder) -> None:
    """``Assistant.stream``: the model's draft piece by piece, then the Answer (what the chat and the CLI show)."""
    from hdf_assistant.schema import Answer, Mode

    with fake_openai_server(mixed) as (url, _):
        pieces = list(assistant_for(url, index_dir, e5_embedder).stream("Combien de startups à Lille ?"))
    *draft, answer = pieces
    assert len(draft) > 3 and all(isinstance(p, str) for p in draft)
    assert "1000 milliards" in "".join(draft)  # the draft holds the sentence the check removes
    assert isinstance(answer, Answer) and answer.mode is Mode.LLM and answer.verified is False
    assert "1791" in answer.text and "1000 milliards" not in answer.text
    with pytest.raises(AttributeError):
        answer.text = "changed"  # type: ignore[misc]  # an answer is never changed once returned


def test_reply_citing_the_wrong_passage_falls_back_to_extractive(index_dir, e5_embedder) -> None:
    with fake_openai_server(wrong_passage) as (url, _):
        answer = assistant_for(url, index_dir, e5_embedder).ask("Combien de startups à Lille ?")
    assert answer.mode == "llm-fallback-extractive" and answer.verified is False
    assert len(answer.rejected) == 1 and "numbers not in passage" in answer.rejected[0]
    assert "1791 startups référencées sur Alloweb" in answer.citations[0].text  # the extractive answer


def test_reply_inventing_a_number_is_rejected(index_dir, e5_embedder) -> None:
    with fake_openai_server(invented_number) as (url, _):
        answer = assistant_for(url, index_dir, e5_embedder).ask("Combien de startups à Lille ?")
    assert answer.verified is False and answer.mode == "llm-fallback-extractive"
    assert "2500" not in answer.text
    assert any("numbers not in passage" in r and "2500" in r for r in answer.rejected)


def test_unsupported_sentence_is_removed_and_the_rest_kept(index_dir, e5_embedder) -> None:
    with fake_openai_server(mixed) as (url, _):
        answer = assistant_for(url, index_dir, e5_embedder).ask("Combien de startups à Lille ?")
    assert answer.mode == "llm" and answer.verified is False
    assert "1791" in answer.text and "PIB" not in answer.text and "1000 milliards" not in answer.text
    assert len(answer.rejected) == 1


def test_model_saying_it_does_not_know_is_an_abstention(index_dir, e5_embedder) -> None:
    with fake_openai_server(lambda q, p: "JE NE SAIS PAS") as (url, _):
        answer = assistant_for(url, index_dir, e5_embedder).ask("Quel est le PIB de la région ?")
    assert answer.abstained and answer.citations == []
