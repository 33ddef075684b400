"""The REST API, the OpenAI-compatible endpoint and the API keys, through a
real server on a loopback port (httpx and the real ``openai`` client).
Plumbing with the fake embedder; the answers' meaning with the real model."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest
from api_server import running
from conftest import BUNDLED_CORPUS
from fake_embedder import FakeEmbedder

from hdf_assistant.assistant import build_assistant
from hdf_assistant.web.server import create_app

PANORAMA = "panorama_numerique_hauts_de_france.txt"


@pytest.fixture()
def served(settings, corpus):
    """The bundled corpus served with the fake embedder; yields (url, settings)."""
    shutil.copy(BUNDLED_CORPUS / PANORAMA, corpus / PANORAMA)

    def serve(embedder=None, **changes):
        current = settings.replace(**changes)
        assistant = build_assistant(current, embedder=embedder or FakeEmbedder())
        return running(create_app(assistant)), current

    return serve


def test_ask_returns_what_ask_json_prints_and_refuses_an_empty_question(served) -> None:
    server, _ = served()
    with server as url:
        reply = httpx.post(f"{url}/api/v1/ask", json={"question": "startups Lille", "mode": "quote"})
        assert reply.status_code == 200
        body = reply.json()
        assert set(body) >= {"question", "answer", "abstained", "citations", "timings_ms", "mode", "conversation_id"}
        assert body["citations"][0]["source"] == PANORAMA and body["conversation_id"] is None
        empty = httpx.post(f"{url}/api/v1/ask", json={"question": "   "})
        assert empty.status_code == 400 and "vide" in empty.json()["detail"]
        assert httpx.post(f"{url}/api/v1/ask", json={"question": "x", "top_k": 0}).status_code == 422
        assert httpx.post(f"{url}/api/v1/ask", json={"question": "x", "conversation_id": "nope"}).status_code == 404
        spec = httpx.get(f"{url}/openapi.json").json()["paths"]
        assert {"/api/v1/ask", "/api/v1/documents", "/api/v1/index", "/api/v1/health", "/v1/chat/completions"} <= set(spec)
        docs = httpx.get(f"{url}/docs")  # offline: no CDN script, the endpoints written in the page
        assert docs.status_code == 200 and "cdn" not in docs.text and "POST /api/v1/ask" in docs.text
        assert "<code>conversation_id</code>" in docs.text


def test_documents_upload_rules_and_removal(served, corpus) -> None:
    server, _ = served(max_file_mb=1)
    with server as url:
        listed = httpx.get(f"{url}/api/v1/documents").json()
        assert [d["name"] for d in listed["documents"]] == [PANORAMA] and listed["not_indexed"] == []
        files = {"file": ("note.txt", "Une note sur la fibre à Arras.".encode(), "text/plain")}
        assert httpx.post(f"{url}/api/v1/documents", files=files).status_code == 201
        assert (corpus / "note.txt").read_text(encoding="utf-8") == "Une note sur la fibre à Arras."
        again = httpx.post(f"{url}/api/v1/documents", files=files)
        assert again.status_code == 409 and "replace" in again.json()["detail"]
        assert httpx.post(f"{url}/api/v1/documents", files=files, data={"replace": "true"}).status_code == 201
        exe = httpx.post(f"{url}/api/v1/documents", files={"file": ("virus.exe", b"MZ", "application/octet-stream")})
        assert exe.status_code == 415 and ".pdf" in exe.json()["detail"]
        big = httpx.post(f"{url}/api/v1/documents", files={"file": ("gros.txt", b"a" * (1024 * 1024 + 1), "text/plain")})
        assert big.status_code == 413 and "1 MB" in big.json()["detail"]
        sneaky = httpx.post(f"{url}/api/v1/documents", files={"file": ("../../evil.txt", b"x", "text/plain")})
        assert sneaky.status_code == 201 and (corpus / "evil.txt").exists() and not (corpus.parent.parent / "evil.txt").exists()
        assert httpx.get(f"{url}/api/v1/documents").json()["not_indexed"] == ["evil.txt", "note.txt"]
        assert httpx.delete(f"{url}/api/v1/documents/absent.txt").status_code == 404
        assert httpx.delete(f"{url}/api/v1/documents/..%2F..%2Fsecret.txt").status_code == 404
        assert httpx.delete(f"{url}/api/v1/documents/evil.txt").status_code == 200 and not (corpus / "evil.txt").exists()


def test_a_refresh_job_reports_progress_and_questions_are_answered_meanwhile(served, corpus) -> None:
    server, _ = served(embedder=FakeEmbedder(delay=0.05))  # slow enough to watch
    with server as url:
        for i in range(8):
            (corpus / f"fiche{i}.txt").write_text(f"Fiche {i} : démarche numéro {i} en ligne. " * 12, encoding="utf-8")
        started = httpx.post(f"{url}/api/v1/index")
        assert started.status_code == 202
        job = started.json()["job"]
        clash = httpx.post(f"{url}/api/v1/index")
        assert clash.status_code == 409 and job in clash.json()["detail"]
        assert httpx.post(f"{url}/api/v1/ask", json={"question": "startups Lille", "mode": "quote"}).status_code == 200
        assert httpx.get(f"{url}/api/v1/health").json()["refresh"]["job"] == job
        deadline = time.time() + 60
        while (state := httpx.get(f"{url}/api/v1/index/{job}").json())["status"] == "running":
            assert time.time() < deadline
            time.sleep(0.1)
        assert state["status"] == "done", state
        assert state["report"]["added"] == [f"fiche{i}.txt" for i in range(8)]
        assert state["progress"]["stage"] == "done" and state["report"]["embedded_chunks"] > 0
        health = httpx.get(f"{url}/api/v1/health").json()
        assert health["index"]["documents"] == 9 and health["refresh"] is None
        assert httpx.get(f"{url}/api/v1/index/unknown").status_code == 404


def test_saved_conversations_carry_the_history_and_stay_private(served, tmp_path: Path) -> None:
    users = tmp_path / "users.txt"
    users.write_text("alice:secret-a\nbob:secret-b\n", encoding="utf-8")
    server, _ = served(auth=str(users))
    alice, bob = ("alice", "secret-a"), ("bob", "secret-b")
    with server as url:
        first = httpx.post(f"{url}/api/v1/ask", auth=alice, json={
            "question": "Quelle entreprise a été créée à Roubaix en 1999 ?", "save": True, "mode": "quote"}).json()
        conversation = first["conversation_id"]
        assert conversation
        follow = httpx.post(f"{url}/api/v1/ask", auth=alice, json={
            "question": "Et combien de salariés y travaillent ?", "conversation_id": conversation, "mode": "quote"}).json()
        assert "Roubaix" in follow["search_query"]  # completed from the saved conversation's first question
        listed = httpx.get(f"{url}/api/v1/conversations", auth=alice).json()["conversations"]
        assert [c["id"] for c in listed] == [conversation]
        full = httpx.get(f"{url}/api/v1/conversations/{conversation}", auth=alice).json()
        assert [m["role"] for m in full["messages"]] == ["user", "assistant", "user", "assistant"]
        assert full["messages"][1]["answer"]["citations"]
        # bob sees none of it, and cannot continue or delete it
        assert httpx.get(f"{url}/api/v1/conversations", auth=bob).json()["conversations"] == []
        assert httpx.get(f"{url}/api/v1/conversations/{conversation}", auth=bob).status_code == 404
        assert httpx.post(f"{url}/api/v1/ask", auth=bob, json={"question": "x", "conversation_id": conversation}
                          ).status_code == 404
        assert httpx.delete(f"{url}/api/v1/conversations/{conversation}", auth=bob).status_code == 404
        assert httpx.patch(f"{url}/api/v1/conversations/{conversation}", auth=alice, json={"title": "OVH"}).status_code == 200
        assert httpx.get(f"{url}/api/v1/conversations", auth=alice).json()["conversations"][0]["title"] == "OVH"
        assert httpx.delete(f"{url}/api/v1/conversations/{conversation}", auth=alice).status_code == 200
        assert httpx.get(f"{url}/api/v1/conversations", auth=alice).json()["conversations"] == []
        assert httpx.get(f"{url}/api/v1/health").status_code == 401  # the login covers the API


def test_api_keys_guard_the_apis_and_never_reach_the_logs(served, caplog) -> None:
    key = "k3y-for-the-intranet-0001"
    server, _ = served(api_keys=f"intranet:{key},second-key-000002")
    with caplog.at_level("DEBUG"), server as url:
        assert httpx.post(f"{url}/api/v1/ask", json={"question": "startups"}).status_code == 401
        wrong = httpx.post(f"{url}/api/v1/ask", json={"question": "startups"}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "HDF_API_KEYS" in wrong.json()["detail"] and key not in wrong.text
        good = httpx.post(f"{url}/api/v1/ask", json={"question": "startups", "save": True},
                          headers={"Authorization": f"Bearer {key}"})
        assert good.status_code == 200
        other = {"Authorization": "Bearer second-key-000002"}
        assert httpx.get(f"{url}/v1/models", headers=other).status_code == 200
        assert httpx.get(f"{url}/api/v1/conversations", headers=other).json()["conversations"] == []  # not its own
        assert httpx.get(f"{url}/v1/models").status_code == 401
        assert httpx.get(f"{url}/").status_code == 200  # the chat is for people: HDF_AUTH guards it, not keys
    assert key not in caplog.text


def test_the_openai_client_chats_with_the_documents(served) -> None:
    import openai

    server, _ = served(api_keys="sk-local-test-key")
    with server as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-local-test-key", max_retries=0)
        assert [m.id for m in client.models.list().data] == ["hdf-assistant"]
        messages = [{"role": "user", "content": "Quelle entreprise a été créée à Roubaix en 1999 ?"},
                    {"role": "assistant", "content": "OVH."},
                    {"role": "user", "content": [{"type": "text", "text": "Et combien de salariés y travaillent ?"}]}]
        reply = client.chat.completions.create(model="hdf-assistant", messages=messages)
        text = reply.choices[0].message.content
        assert "Sources :" in text and "[1]" in text
        extra = reply.model_extra or {}
        assert extra["citations"][0]["source"] == PANORAMA and "Roubaix" in extra["hdf"]["search_query"]
        chunks = list(client.chat.completions.create(model="hdf-assistant", messages=messages, stream=True))
        assert len(chunks) > 3 and chunks[-1].choices[0].finish_reason == "stop"
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
        assert (chunks[-1].model_extra or {})["citations"] == extra["citations"]
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="hdf-assistant", messages=[{"role": "user", "content": " "}])
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0).models.list()


# -- meaning: the real model ---------------------------------------------------
def test_rest_and_openai_answers_cite_1791(served, e5_embedder) -> None:
    import openai

    server, _ = served(embedder=e5_embedder)
    with server as url:
        body = httpx.post(f"{url}/api/v1/ask", json={"question": "How many startups in Lille?"}, timeout=60).json()
        assert not body["abstained"] and "1791" in body["answer"]
        assert body["citations"][0]["source"] == PANORAMA and "1791" in body["citations"][0]["text"]
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        stream = client.chat.completions.create(
            model="hdf-assistant", stream=True,
            messages=[{"role": "user", "content": "Combien de startups sont référencées à Lille ?"}])
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert "1791" in text and "Sources :" in text
        assert "1791" in (chunks[-1].model_extra or {})["citations"][0]["text"]


def test_a_refusal_says_why_and_shows_the_closest_passage_to_programs(served, e5_embedder) -> None:
    import openai

    server, _ = served(embedder=e5_embedder)
    with server as url:
        body = httpx.post(f"{url}/api/v1/ask", json={"question": "Combien de startups y a-t-il à Amiens ?"},
                          timeout=60).json()
        assert body["abstained"] and body["citations"] == []
        assert body["abstain_reason"].startswith("names_not_mentioned")
        assert body["why"] == "Aucun des passages trouvés ne mentionne « Amiens »."
        assert body["related"]["source"] == PANORAMA and "1791 startups" in body["related"]["text"]
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        reply = client.chat.completions.create(
            model="hdf-assistant", messages=[{"role": "user", "content": "How many startups are there in Marseille?"}])
        text = reply.choices[0].message.content
        assert "Why: None of the passages found mentions “Marseille”." in text and "Closest passage" in text
