"""Indexing spread over workers through PostgreSQL (``index --distribute``, ``hdf-assistant worker``): the
committed index equals a single-process build, a worker killed with SIGKILL mid-run loses nothing, and a
file that fails three times is skipped with its error while the others are committed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import clean_env, write
from fake_embedder import FakeEmbedder

from hdf_assistant.assistant import open_backend, refresh_index
from hdf_assistant.index.postgres_db import Database, parse_vector

TOWNS = ["Arras", "Amiens", "Beauvais", "Calais", "Douai", "Dunkerque", "Lens", "Lille", "Roubaix", "Tourcoing",
         "Valenciennes", "Compiègne"]
TOPICS = ["la fibre optique", "les tiers lieux", "la cybersécurité", "l'e-santé", "les startups"]


def _corpus(corpus: Path, files: int) -> None:
    for i in range(files):
        town = TOWNS[i % len(TOWNS)]
        sentences = [f"À {town}, le projet {i * 100 + j} sur {topic} mobilise {i * 37 + j * 11} personnes "
                     f"depuis {2000 + (i + j) % 25}." for j, topic in enumerate(TOPICS)]
        write(corpus, f"projet_{i:02d}.txt", "\n\n".join(sentences * 3))


def _live(url: str, index_name: str) -> dict[str, tuple[str, str, np.ndarray]]:
    """Every live passage: id -> (source, text, vector)."""
    db = Database(url, index_name)
    with db.cursor() as cur:
        cur.execute(f"SELECT node_id, source, text, embedding::text FROM {db.schema}.data_passages WHERE v_to IS NULL")
        return {row[0]: (row[1], row[2], parse_vector(row[3])) for row in cur.fetchall()}


@pytest.mark.model
def test_two_workers_one_killed_give_the_index_of_a_single_process(postgres_url, settings, corpus, tmp_path,
                                                                   e5_embedder) -> None:
    _corpus(corpus, 60)
    name = f"d{uuid.uuid4().hex[:10]}"
    env = clean_env(HDF_STORE="postgres", HDF_DATABASE_URL=postgres_url, HDF_INDEX_NAME=name)
    command = [sys.executable, "-m", "hdf_assistant", "--corpus", str(corpus)]
    workers = [subprocess.Popen([*command, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True, cwd=tmp_path) for _ in range(2)]
    coordinator = subprocess.Popen([*command, "index", "--distribute", "--json"], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        db = Database(postgres_url, name)
        deadline = time.time() + 300
        killed = False
        while not killed:  # once some files are done, one worker is killed in the middle of its next
            assert coordinator.poll() is None, coordinator.stderr.read() if coordinator.stderr else ""
            assert time.time() < deadline, "the workers made no progress"
            time.sleep(0.5)
            try:
                with db.cursor() as cur:
                    cur.execute(f"SELECT count(*) FILTER (WHERE done), count(*) FROM {db.schema}.dist_results")
                    done, started = cur.fetchone()
            except Exception:  # the table is made by the first worker
                continue
            if done >= 10 and started > done:
                os.killpg(workers[0].pid, signal.SIGKILL)
                killed = True
        out, err = coordinator.communicate(timeout=600)
        assert coordinator.returncode == 0, err
        report = json.loads(out.strip().splitlines()[-1])
        assert len(report["added"]) == 60 and report["skipped"] == [] and report["documents"] == 60
    finally:
        for worker in workers:
            try:
                os.killpg(worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            worker.wait(timeout=30)
        if coordinator.poll() is None:
            coordinator.kill()

    single = settings.replace(store="postgres", database_url=postgres_url, index_name=f"s{uuid.uuid4().hex[:10]}")
    refresh_index(single, lambda: e5_embedder)
    distributed, reference = _live(postgres_url, name), _live(postgres_url, single.index_name)
    assert set(distributed) == set(reference)  # the same passage ids, none written twice
    assert len(distributed) == report["chunks"] == open_backend(single).open().size
    cosines = []
    for cid, (source, text, vector) in reference.items():
        assert distributed[cid][:2] == (source, text)
        cosines.append(float(np.dot(vector, distributed[cid][2]) / np.linalg.norm(vector) /
                             np.linalg.norm(distributed[cid][2])))
    assert min(cosines) > 0.99, min(cosines)  # int8 activations: batches of other sizes, nearly equal vectors


def test_a_file_failing_three_times_is_skipped_and_the_others_committed(postgres_url, settings, corpus,
                                                                       monkeypatch) -> None:
    from hdf_assistant.assistant import refresh_index_distributed
    from hdf_assistant.index import distributed

    _corpus(corpus, 4)
    settings = settings.replace(store="postgres", database_url=postgres_url, index_name=f"f{uuid.uuid4().hex[:10]}")
    monkeypatch.setattr("hdf_assistant.assistant.build_embedder", lambda s: FakeEmbedder())
    real = distributed.process_file
    attempts: list[str] = []

    def flaky(options, source, embedder):  # type: ignore[no-untyped-def]
        if source == "projet_02.txt":
            attempts.append(source)
            raise RuntimeError("the disk of this worker failed")
        return real(options, source, embedder)

    monkeypatch.setattr(distributed, "process_file", flaky)
    stop = threading.Event()
    worker = threading.Thread(target=lambda: distributed.run_worker(
        distributed_options(settings), open_backend(settings), postgres_url, settings.index_name, FakeEmbedder,
        stop.is_set), daemon=True)
    worker.start()
    try:
        report = refresh_index_distributed(settings, timeout=120)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert report.added == ["projet_00.txt", "projet_01.txt", "projet_03.txt"]
    assert [(s.file, s.reason) for s in report.skipped] == [
        ("projet_02.txt", "failed 3 times: RuntimeError: the disk of this worker failed")]
    assert len(attempts) == 3
    index = open_backend(settings).open()
    assert index.sources() == ["projet_00.txt", "projet_01.txt", "projet_03.txt"]
    assert "projet_02.txt" in index.manifest.skipped


def distributed_options(settings):  # type: ignore[no-untyped-def]
    from hdf_assistant.assistant import build_options

    return build_options(settings)
