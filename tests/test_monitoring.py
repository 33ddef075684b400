"""What an operator watches: ``/metrics`` moving after questions and refreshes, request ids on every
response and in JSON log lines, ``/metrics`` behind the keys."""

from __future__ import annotations

import json
import logging
import re
import time

from conftest import write
from fake_embedder import FakeEmbedder

from hdf_assistant.assistant import build_assistant
from hdf_assistant.web.metrics import REQUEST_ID, JsonFormatter


def _value(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_move_after_questions_and_a_refresh(settings, corpus) -> None:
    from fastapi.testclient import TestClient

    from hdf_assistant.web.server import create_app

    write(corpus, "ovh.txt", "OVH a été fondé à Roubaix en 1999.")
    client = TestClient(create_app(build_assistant(settings, embedder=FakeEmbedder())))
    before = client.get("/metrics").text
    assert _value(before, "hdf_index_passages") == 1 and _value(before, "hdf_index_documents") == 1
    for question in ("Où OVH a-t-il été fondé ?", "Quand OVH a-t-il été fondé ?"):
        assert client.post("/api/v1/ask", json={"question": question}).status_code == 200
    client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "OVH ?"}]})
    write(corpus, "citc.txt", "Le CITC est à Lille.")
    job = client.post("/api/v1/index").json()["job"]
    for _ in range(200):
        if client.get(f"/api/v1/index/{job}").json()["status"] != "running":
            break
        time.sleep(0.05)
    after = client.get("/metrics").text
    api = sum(_value(after, "hdf_questions_total", via="api", mode="extractive", abstained=a) for a in ("true", "false"))
    assert api == 2
    assert sum(_value(after, "hdf_questions_total", via="openai", abstained=a) for a in ("true", "false")) == 1
    assert _value(after, "hdf_retrieve_seconds_count") == 3 and _value(after, "hdf_answer_seconds_count") == 3
    assert _value(after, "http_request_duration_seconds_count", handler="/api/v1/ask", method="POST",
                  status="200") == 2
    assert _value(after, "hdf_refresh_seconds_count") == 1 and _value(after, "hdf_index_jobs", state="done") == 1
    assert _value(after, "hdf_index_passages") == 2 and _value(after, "hdf_index_documents") == 2
    assert 'hdf_index_info{' in after and 'store="local"' in after


def test_every_response_has_a_request_id_found_in_its_json_log_line(settings, corpus) -> None:
    from fastapi.testclient import TestClient

    from hdf_assistant.web.server import create_app

    write(corpus, "ovh.txt", "OVH a été fondé à Roubaix en 1999.")
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("hdf_assistant")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        client = TestClient(create_app(build_assistant(settings, embedder=FakeEmbedder())))
        reply = client.post("/api/v1/ask", json={"question": "Où OVH a-t-il été fondé ?"})
        given = client.get("/api/v1/health", headers={"X-Request-ID": "trace-42"})
    finally:
        logger.removeHandler(handler)
    request_id = reply.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id) and given.headers["x-request-id"] == "trace-42"
    entries = [json.loads(line) for line in lines]
    mine = [e for e in entries if e.get("request_id") == request_id]
    assert any("path=/api/v1/ask" in e["message"] and "status=200" in e["message"] for e in mine), entries
    assert any(e.get("request_id") == "trace-42" for e in entries)
    assert REQUEST_ID.get() == ""  # nothing left over outside a request


def test_metrics_need_a_key_when_keys_are_set(settings, corpus) -> None:
    from fastapi.testclient import TestClient

    from hdf_assistant.web.server import create_app

    write(corpus, "ovh.txt", "OVH a été fondé à Roubaix en 1999.")
    app = create_app(build_assistant(settings.replace(api_keys="ops:ops-key-123456"), embedder=FakeEmbedder()))
    client = TestClient(app)
    assert client.get("/metrics").status_code == 401
    reply = client.get("/metrics", headers={"Authorization": "Bearer ops-key-123456"})
    assert reply.status_code == 200 and "hdf_index_passages" in reply.text
