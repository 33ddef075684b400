"""Refresh jobs live in the database beside the index: a job started through one web worker is reported by
another, a second refresh is refused (409) wherever it is asked, and a job whose process died does not
block the next one. Two apps on the same settings stand for two worker processes."""

from __future__ import annotations

import threading
import time

from conftest import write
from fake_embedder import FakeEmbedder

from hdf_assistant.assistant import build_assistant


class SlowEmbedder(FakeEmbedder):
    """Embeds only once released: a refresh stays running while the test looks at it."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.release.set()  # held back by the test when it wants a refresh to stay running

    def embed_passages(self, texts, progress=None):  # type: ignore[no-untyped-def]
        self.release.wait(30)
        return super().embed_passages(texts, progress=progress)


def _wait(client, job: str) -> dict:
    for _ in range(400):
        state = client.get(f"/api/v1/index/{job}").json()
        if state["status"] != "running":
            return state
        time.sleep(0.05)
    raise AssertionError("the refresh did not finish")


def test_a_job_started_in_one_worker_is_seen_and_blocks_refreshes_in_another(backend_settings, corpus) -> None:
    from fastapi.testclient import TestClient

    from hdf_assistant.web.server import create_app

    write(corpus, "ovh.txt", "OVH a été fondé à Roubaix en 1999.")
    slow = SlowEmbedder()
    first = TestClient(create_app(build_assistant(backend_settings, embedder=slow)))
    second = TestClient(create_app(build_assistant(backend_settings, embedder=FakeEmbedder())))
    write(corpus, "citc.txt", "Le CITC est à Lille.")
    slow.release.clear()
    started = first.post("/api/v1/index")
    assert started.status_code == 202
    job = started.json()["job"]
    seen = second.get(f"/api/v1/index/{job}")
    assert seen.status_code == 200 and seen.json()["status"] == "running"
    refused = second.post("/api/v1/index")
    assert refused.status_code == 409 and job in refused.json()["detail"]
    assert second.get("/api/v1/health").json()["refresh"]["job"] == job
    slow.release.set()
    done = _wait(second, job)
    assert done["status"] == "done" and done["report"]["added"] == ["citc.txt"]
    # the next refresh may start anywhere
    again = second.post("/api/v1/index")
    assert again.status_code == 202
    assert _wait(first, again.json()["job"])["status"] == "done"


def test_a_job_whose_process_died_does_not_block_the_next(settings, corpus, monkeypatch) -> None:
    from fastapi.testclient import TestClient

    from hdf_assistant.web import index_jobs
    from hdf_assistant.web.index_jobs import IndexJob, JobTable
    from hdf_assistant.web.server import create_app

    write(corpus, "ovh.txt", "OVH a été fondé à Roubaix en 1999.")
    client = TestClient(create_app(build_assistant(settings, embedder=FakeEmbedder())))
    table = JobTable.for_settings(settings)
    dead = IndexJob("deadbeef0000", False, worker="elsewhere:1")
    assert table.insert_running(dead)  # as if a worker had been killed mid-refresh
    assert client.post("/api/v1/index").status_code == 409
    monkeypatch.setattr(index_jobs, "STALE_S", 0.0)  # its heartbeat is now too old
    time.sleep(0.01)
    started = client.post("/api/v1/index")
    assert started.status_code == 202
    assert _wait(client, started.json()["job"])["status"] == "done"
    gone = client.get("/api/v1/index/deadbeef0000").json()
    assert gone["status"] == "failed" and "stopped" in gone["error"]
