"""Collections and access rights, tried as an attacker would: user ``bob`` (not in the HR group) asks,
through the REST API, the OpenAI endpoint (the real ``openai`` client), Gradio's API and the command line,
questions whose only answers are in the ``rh`` collection. Nothing of the ``rh`` files may come back: not
their names, not their words, in no body, header, log line or audit line; ``alice`` (HR) and the key
``paie`` get the answers. The filters a person can use, the access file's errors, private conversations
for anonymous browsers, and Gradio's API closed to programs without a key."""

from __future__ import annotations

import base64
import json
import logging
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import BUNDLED_CORPUS, write
from fake_embedder import FakeEmbedder

from hdf_assistant.access import AccessPolicy, load_policy
from hdf_assistant.assistant import build_assistant
from hdf_assistant.errors import ConfigError

#: what the rh files hold and bob's questions do not say: none of it may reach him
SECRETS = ["salaires_2025", "primes_direction", "rh/", "4321 euros", "8765 euros", "douze", "décembre",
           "humaines, est de"]
RH_FILES = {
    "salaires_2025.txt": "Le salaire mensuel de Jean Zorglub, directeur des ressources humaines, est de 4321 euros. "
                         "La grille des salaires de la Région prévoit douze échelons.",
    "primes_direction.txt": "La prime annuelle de Paulette Marcassin s'élève à 8765 euros. "
                            "Les primes de la direction sont versées en décembre.",
}
#: questions whose only answers are in rh
RH_QUESTIONS = [
    "Quel est le salaire mensuel de Jean Zorglub ?",
    "Combien gagne le directeur des ressources humaines ?",
    "À combien s'élève la prime annuelle de Paulette Marcassin ?",
    "Quand les primes de la direction sont-elles versées ?",
    "Combien d'échelons compte la grille des salaires de la Région ?",
]
ACCESS = """
[groups]
drh = ["alice", "carol"]

[collections]
rh = ["group:drh", "key:paie"]
direction = ["alice"]

[admins]
members = ["alice"]
"""


def _setup(tmp_path: Path, corpus: Path, access: str = ACCESS) -> dict[str, str]:
    """The corpus (the panorama at the root, two HR files in rh/), logins, keys and the access file."""
    shutil.copy(BUNDLED_CORPUS / "panorama_numerique_hauts_de_france.txt", corpus)
    (corpus / "rh").mkdir()
    for name, text in RH_FILES.items():
        write(corpus / "rh", name, text)
    users = tmp_path / "users.txt"
    users.write_text("alice:alice-password\nbob:bob-password\ncarol:carol-password\n", encoding="utf-8")
    keys = tmp_path / "keys.txt"
    keys.write_text("paie:paie-key-123456\nautre:autre-key-123456\n", encoding="utf-8")
    policy = tmp_path / "access.toml"
    policy.write_text(access, encoding="utf-8")
    return {"auth": str(users), "api_keys": str(keys), "access": str(policy),
            "audit_log": str(tmp_path / "audit.jsonl")}


def _basic(user: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{user}-password".encode()).decode()


def _call(url: str, path: str, auth: str, body: dict[str, Any] | None = None,
          method: str | None = None) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"Authorization": auth, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s.lower() in text.lower()]


# -- the access file -------------------------------------------------------------------------------
@pytest.mark.parametrize(("content", "expected"), [
    ("[collections\nrh = 1", "not a readable TOML file"),
    ('[collections]\nrh = ["group:paye"]', "unknown group 'paye'"),
    ('[collections]\nrh = ["zed"]', "'zed' is neither a login of HDF_AUTH nor a key"),
    ('[collections]\nrh = ["key:nope"]', "'key:nope' is not a key of HDF_API_KEYS"),
    ('[collections]\nrh = "alice"', "[collections] rh must be a list of names"),
    ('[groupes]\ndrh = ["alice"]', "unknown section [groupes]"),
])
def test_a_wrong_access_file_is_refused_with_one_line_saying_where(tmp_path, content, expected) -> None:
    path = tmp_path / "access.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_policy(str(path), {"alice", "bob"}, {"paie"})
    message = str(refused.value)
    assert expected in message and str(path) in message and "\n" not in message


def test_rights_follow_the_file() -> None:
    policy = load_policy_text(ACCESS)
    assert policy.may_read("alice", "rh") and policy.may_read("carol", "rh") and policy.may_read("key:paie", "rh")
    assert not policy.may_read("bob", "rh") and not policy.may_read("", "rh") and not policy.may_read("key:autre", "rh")
    assert not policy.may_read("carol", "direction") and policy.may_read("bob", "general")
    assert policy.is_admin("alice") and not policy.is_admin("carol") and not policy.is_admin("")
    files = ["a.txt", "rh/x.txt", "direction/y.txt", "projets/z.txt"]
    assert policy.readable("bob", files) == ["general", "projets"]
    assert AccessPolicy().readable("", files) == ["direction", "general", "projets", "rh"]  # no file: all


def load_policy_text(text: str) -> AccessPolicy:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as out:
        out.write(text)
    return load_policy(out.name, {"alice", "bob", "carol"}, {"paie", "autre"})


# -- the red team ----------------------------------------------------------------------------------
def test_bob_gets_nothing_of_rh_through_any_door_alice_and_the_paie_key_do(backend_settings, corpus, tmp_path,
                                                                          e5_embedder, caplog, capsys, monkeypatch) -> None:
    """Real model, both stores: bob's five questions abstain and no byte of rh comes back; alice and the
    ``paie`` key get the answers with their citations."""
    from api_server import running
    from openai import OpenAI

    from hdf_assistant.cli import main
    from hdf_assistant.web.server import create_app

    settings = backend_settings.replace(**_setup(tmp_path, corpus))
    assistant = build_assistant(settings, embedder=e5_embedder)
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with running(create_app(assistant)) as url:
        bob = OpenAI(base_url=url + "/v1", api_key="unused", default_headers={"Authorization": _basic("bob")})
        for question in RH_QUESTIONS:
            status, headers, body = _call(url, "/api/v1/ask", _basic("bob"), {"question": question})
            assert status == 200
            answer = json.loads(body)
            assert answer["abstained"], (question, answer["answer"])
            seen += [body.decode(), json.dumps(headers)]
            raw = bob.chat.completions.with_raw_response.create(
                model="hdf-assistant", messages=[{"role": "user", "content": question}])
            completion = raw.parse()
            seen += [completion.model_dump_json(), json.dumps(dict(raw.headers))]
        # he cannot open, list, count or filter on them either
        for path in ("/doc/rh/salaires_2025.txt", "/doc/rh/primes_direction.txt"):
            status, headers, body = _call(url, path, _basic("bob"))
            assert status == 404
            seen += [body.decode(), json.dumps(headers)]
        for path in ("/api/v1/documents", "/api/v1/health"):
            status, headers, body = _call(url, path, _basic("bob"))
            assert status == 200
            seen += [body.decode(), json.dumps(headers)]
        health = json.loads(_call(url, "/api/v1/health", _basic("bob"))[2])
        assert health["index"]["documents"] == 1
        status, _, body = _call(url, "/api/v1/ask", _basic("bob"),
                                {"question": RH_QUESTIONS[0], "filters": {"collections": ["rh"]}})
        assert status == 400 and "unknown collection 'rh'" in body.decode()
        seen.append(body.decode())
        for method, path in (("POST", "/api/v1/index"), ("DELETE", "/api/v1/documents/rh/salaires_2025.txt")):
            status, _, body = _call(url, path, _basic("bob"), {} if method == "POST" else None, method=method)
            assert status == 403
            seen.append(body.decode())
        assert (corpus / "rh" / "salaires_2025.txt").is_file()

        # alice (HR) and the paie key read rh, with citations
        status, _, body = _call(url, "/api/v1/ask", _basic("alice"), {"question": RH_QUESTIONS[0]})
        answer = json.loads(body)
        assert not answer["abstained"] and "4321" in answer["answer"]
        assert answer["citations"][0]["source"] == "rh/salaires_2025.txt"
        assert answer["citations"][0]["collection"] == "rh"
        status, _, body = _call(url, "/api/v1/ask", "Bearer paie-key-123456", {"question": RH_QUESTIONS[2]})
        answer = json.loads(body)
        assert not answer["abstained"] and "8765" in answer["answer"], answer["answer"]
        other = json.loads(_call(url, "/api/v1/ask", "Bearer autre-key-123456", {"question": RH_QUESTIONS[2]})[2])
        assert other["abstained"] and not _leaks(json.dumps(other))
        assert _call(url, "/doc/rh/salaires_2025.txt", _basic("alice"))[0] == 200

    # the command line, with bob's rights and with alice's
    for name, value in (("HDF_STORE", settings.store), ("HDF_DATABASE_URL", settings.database_url),
                        ("HDF_INDEX_NAME", settings.index_name), ("HDF_AUTH", settings.auth),
                        ("HDF_API_KEYS", settings.api_keys), ("HDF_ACCESS", settings.access),
                        ("HDF_MODEL_CACHE", str(settings.model_cache_dir))):
        if value:
            monkeypatch.setenv(name, value)
    capsys.readouterr()
    cli = ["--corpus", str(corpus), "--index-dir", str(settings.index_dir), "ask", RH_QUESTIONS[0], "--json"]
    assert main([*cli, "--as", "bob"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["abstained"]
    seen.append(out)
    assert main([*cli, "--as", "alice"]) == 0
    assert "4321" in json.loads(capsys.readouterr().out)["answer"]

    leaks = {text[:80]: _leaks(text) for text in seen if _leaks(text)}
    assert not leaks, leaks
    log_text = "\n".join(r.getMessage() for r in caplog.records)
    assert not _leaks(log_text), _leaks(log_text)
    audit = [json.loads(line) for line in Path(settings.audit_log).read_text(encoding="utf-8").splitlines()]
    bobs = [a for a in audit if a["user"] == "bob"]
    assert len(bobs) >= 10 and all(a["abstained"] and a["collections"] == ["general"] for a in bobs)
    assert all("question" not in a and a["question_chars"] > 10 for a in audit)
    assert {a["via"] for a in audit} >= {"api", "openai"}
    alice = next(a for a in audit if a["user"] == "alice")
    assert alice["sources"] == ["rh/salaires_2025.txt"] and alice["collections"] == ["general", "rh"]


def test_filters_narrow_the_citations_and_an_unknown_collection_is_a_400(settings, corpus, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from hdf_assistant.web.server import create_app

    write(corpus, "ovh.txt", "OVH a été fondé à Roubaix en 1999 par Octave Klaba.")
    (corpus / "projets").mkdir()
    write(corpus / "projets", "fibre.md", "Le projet fibre de Roubaix couvre 92 % des foyers en 2024.")
    write(corpus / "projets", "ovh_note.txt", "Note : OVH agrandit son site de Roubaix en 2024.")
    client = TestClient(create_app(build_assistant(settings, embedder=FakeEmbedder())))

    def sources(filters: dict[str, Any] | None) -> set[str]:
        body = {"question": "Roubaix OVH 2024", "mode": "quote", "top_k": 5, "filters": filters}
        reply = client.post("/api/v1/ask", json=body)
        assert reply.status_code == 200, reply.text
        return {r["source"] for r in reply.json()["citations"]}

    assert sources(None) == {"projets/ovh_note.txt"}  # the best passage of all, unfiltered
    assert sources({"collections": ["projets"]}) == {"projets/ovh_note.txt"}
    assert sources({"collections": ["general"]}) == {"ovh.txt"}
    assert sources({"files": ["projets/fibre.md"]}) == {"projets/fibre.md"}
    assert sources({"types": ["md"]}) == {"projets/fibre.md"}
    reply = client.post("/api/v1/ask", json={"question": "Roubaix ?", "filters": {"collections": ["budget"]}})
    assert reply.status_code == 400 and "unknown collection 'budget'" in reply.json()["detail"]
    reply = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "Roubaix ?"}],
                                                      "filters": {"collections": ["budget"]}})
    assert reply.status_code == 400 and "budget" in reply.json()["detail"]
    listed = client.get("/api/v1/documents").json()
    assert listed["collections"] == ["general", "projets"]
    assert {d["name"]: d["collection"] for d in listed["documents"]}["projets/fibre.md"] == "projets"


def test_the_api_without_a_key_sees_no_conversation_and_each_browser_its_own(settings, corpus) -> None:
    from fastapi.testclient import TestClient

    from hdf_assistant.web.server import create_app

    write(corpus, "ovh.txt", "OVH a été fondé à Roubaix en 1999.")
    app = create_app(build_assistant(settings, embedder=FakeEmbedder()))
    first, second, program = TestClient(app), TestClient(app), TestClient(app)
    for browser in (first, second):
        page = browser.get("/")
        cookie = page.headers["set-cookie"]
        assert "hdf_visitor=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    saved = first.post("/api/v1/ask", json={"question": "Où OVH a-t-il été fondé ?", "save": True}).json()
    assert [c["id"] for c in first.get("/api/v1/conversations").json()["conversations"]] == [saved["conversation_id"]]
    assert second.get("/api/v1/conversations").json()["conversations"] == []
    assert second.get(f"/api/v1/conversations/{saved['conversation_id']}").status_code == 404
    program.cookies.clear()
    assert program.get("/api/v1/conversations").json()["conversations"] == []
    # a forged cookie is no identity
    forged = TestClient(app, cookies={"hdf_visitor": "0123abcd.0000"})
    assert forged.get("/api/v1/conversations").json()["conversations"] == []


def test_with_only_keys_gradio_api_needs_a_key_the_page_still_works(settings, corpus) -> None:
    from api_server import running
    from gradio_client import Client

    from hdf_assistant.web.server import create_app

    write(corpus, "ovh.txt", "OVH a été fondé à Roubaix en 1999.")
    settings = settings.replace(api_keys="robot:robot-key-123456")
    with running(create_app(build_assistant(settings, embedder=FakeEmbedder()))) as url:
        for api_name, args in (("/ask", ("Où OVH a-t-il été fondé ?", [])), ("/chat", ("Où OVH ?",))):
            with pytest.raises(Exception) as refused:
                Client(url + "/", verbose=False).predict(*args, api_name=api_name)
            assert "401" in str(refused.value) or "Unauthorized" in str(refused.value), refused.value
        keyed = Client(url + "/", verbose=False, headers={"Authorization": "Bearer robot-key-123456"})
        assert "Roubaix" in keyed.predict("Où OVH a-t-il été fondé ?", [], api_name="/ask")["answer"]
        # the chat page loads for a person, and gets its visitor cookie
        with urllib.request.urlopen(url + "/", timeout=10) as page:
            assert page.status == 200 and "hdf_visitor=" in page.headers.get("set-cookie", "")


def test_a_document_s_date_comes_from_its_file_and_date_filters_narrow_the_citations(settings, corpus,
                                                                                     tmp_path) -> None:
    import datetime

    import docx
    from fastapi.testclient import TestClient
    from fpdf import FPDF

    from hdf_assistant.ingest.dates import file_date
    from hdf_assistant.web.server import create_app

    write(corpus, "bilan_2024.md", "---\ntitle: Bilan\ndate: 2024-03-15\n---\nLe bilan fibre de Roubaix : 92 % des foyers.")
    write(corpus, "bilan_sans_date.md", "Le bilan fibre de Roubaix, sans date : 80 % des foyers.")
    pdf = FPDF()
    pdf.set_creation_date(datetime.datetime(2019, 6, 1, tzinfo=datetime.UTC))
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, "Le bilan fibre de Roubaix en 2019 : 40 % des foyers.")
    pdf.output(str(corpus / "bilan_2019.pdf"))
    document = docx.Document()
    document.add_paragraph("Le bilan fibre de Roubaix en 2022 : 75 % des foyers.")
    document.core_properties.created = datetime.datetime(2022, 9, 30)
    document.save(str(corpus / "bilan_2022.docx"))
    assert [file_date(corpus / n) for n in ("bilan_2024.md", "bilan_sans_date.md", "bilan_2019.pdf",
                                            "bilan_2022.docx")] == ["2024-03-15", "", "2019-06-01", "2022-09-30"]

    client = TestClient(create_app(build_assistant(settings, embedder=FakeEmbedder())))

    def cited(filters: dict[str, Any]) -> set[str]:
        reply = client.post("/api/v1/ask", json={"question": "bilan fibre Roubaix foyers", "mode": "quote",
                                                 "filters": filters})
        assert reply.status_code == 200, reply.text
        return {c["source"] for c in reply.json()["citations"]}

    assert cited({"date_from": "2023-01-01"}) == {"bilan_2024.md"}
    assert cited({"date_to": "2020-12-31"}) == {"bilan_2019.pdf"}
    assert cited({"date_from": "2020-01-01", "date_to": "2023-12-31"}) == {"bilan_2022.docx"}
    assert cited({"date_from": "2030-01-01"}) == set()  # nothing dated then: nothing to cite
    reply = client.post("/api/v1/ask", json={"question": "bilan ?", "filters": {"date_from": "15/03/2024"}})
    assert reply.status_code == 400 and "YYYY-MM-DD" in reply.json()["detail"]


def test_serving_beyond_loopback_without_a_login_warns_at_start(settings, corpus, monkeypatch, capsys) -> None:
    import uvicorn

    from hdf_assistant.web import server

    write(corpus, "ovh.txt", "OVH a été fondé à Roubaix en 1999.")
    assistant = build_assistant(settings, embedder=FakeEmbedder())
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    server.launch(assistant, host="127.0.0.1", port=0)
    assert "warning" not in capsys.readouterr().err
    server.launch(assistant, host="0.0.0.0", port=0)
    assert "without a login (HDF_AUTH)" in capsys.readouterr().err
    server.launch(build_assistant(settings.replace(auth="alice:secret"), embedder=FakeEmbedder()), host="0.0.0.0")
    assert "warning" not in capsys.readouterr().err


def test_the_chat_asks_inside_the_chosen_collection_and_a_conversation_keeps_it(settings, corpus) -> None:
    from hdf_assistant.access import Guard
    from hdf_assistant.web.conversations import ConversationStore
    from hdf_assistant.web.gradio_app import ChatHandlers

    write(corpus, "ovh.txt", "OVH agrandit son site de Roubaix en 2024.")
    (corpus / "projets").mkdir()
    write(corpus / "projets", "fibre.txt", "Le projet fibre de Roubaix couvre 92 % des foyers en 2024.")
    guard = Guard(build_assistant(settings, embedder=FakeEmbedder()))
    handlers = ChatHandlers(guard, ConversationStore.for_settings(settings))
    assert handlers.collection_choices("anon:x")["choices"][1:] == ["general", "projets"]
    *_, last = handlers.respond("OVH Roubaix 2024", [], "quote", "hybrid", 3, "Français", "anon:x", None, "projets")
    sources, conversation_id = last[1], last[2]
    assert "projets/fibre.txt" in sources and "ovh.txt" not in sources.replace("projets/fibre.txt", "")
    *_, collection = handlers.open_conversation(conversation_id, "anon:x", "Français")
    assert collection["value"] == "projets"
    assert handlers.open_conversation(conversation_id, "anon:y", "Français")[2] is None  # not theirs
