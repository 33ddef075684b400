"""Incremental, atomic and watchable indexing: exactly what changed is
embedded, old text disappears, crashes and concurrent runs lose nothing.
All bookkeeping: the fake embedder, no model."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import clean_env, indexed_text, live_index, write
from fake_embedder import FakeEmbedder

from hdf_assistant.assistant import build_assistant, refresh_index
from hdf_assistant.errors import IndexBusyError
from hdf_assistant.index import keyword
from hdf_assistant.index.state import current_state_dir, index_lock
from hdf_assistant.ingest.watch import start_watching

TESTS = Path(__file__).resolve().parent





def test_add_modify_rename_delete_embed_exactly_what_changed(settings, corpus) -> None:
    write(corpus, "ovh.txt", "OVH a été créé en 1999 à Roubaix.")
    write(corpus, "citc.txt", "Le CITC est le centre d'innovation de l'IOT à EuraTechnologies.")
    write(corpus, "isagri.txt", "Isagri édite des logiciels agricoles à Beauvais.")
    counter = FakeEmbedder()
    first = refresh_index(settings, lambda: counter)
    assert first.added == ["citc.txt", "isagri.txt", "ovh.txt"] and first.embedded_chunks == 3
    # each one-sentence file: its passage, then its opening (the same sentence) for its document vector
    assert first.embedded_documents == 3 and len(counter.embedded) == 6

    counter.embedded.clear()
    write(corpus, "ovh.txt", "OVH emploie 1000 salariés dans la région.")  # modified
    os.rename(corpus / "citc.txt", corpus / "centre_iot.txt")  # renamed only
    (corpus / "isagri.txt").unlink()  # deleted
    write(corpus, "alloweb.txt", "Alloweb recense 1791 startups dans la métropole lilloise.")  # added
    report = refresh_index(settings, lambda: counter)
    assert report.added == ["alloweb.txt"] and report.updated == ["ovh.txt"] and report.removed == ["isagri.txt"]
    assert report.renamed == [{"from": "citc.txt", "to": "centre_iot.txt"}]
    assert sorted(counter.embedded) == sorted([
        "Alloweb recense 1791 startups dans la métropole lilloise.", "OVH emploie 1000 salariés dans la région.",
    ] * 2)  # passage and document vector of the added and the modified file; nothing for the renamed one
    assert report.embedded_chunks == 2 and report.embedded_documents == 2

    index = live_index(settings)
    assert index.sources() == ["alloweb.txt", "centre_iot.txt", "ovh.txt"]
    assert "Isagri" not in indexed_text(index) and "1999" not in indexed_text(index)
    assistant = build_assistant(settings, embedder=FakeEmbedder())
    assert assistant.retriever("bm25").retrieve("Isagri Beauvais", 5) == []
    assert assistant.retriever("bm25").retrieve("IOT", 1)[0].chunk.source == "centre_iot.txt"
    assert assistant.retriever("dense").retrieve("OVH salariés région", 1)[0].chunk.source == "ovh.txt"

    counter.embedded.clear()
    again = refresh_index(settings, lambda: counter)
    assert again.unchanged == ["alloweb.txt", "centre_iot.txt", "ovh.txt"] and counter.embedded == []


def test_add_delete_add_cycles_never_reuse_ids_nor_keep_old_passages(settings, corpus) -> None:
    write(corpus, "base.txt", "Le CITC soutient l'IOT.")
    previous_next_id = 0
    for cycle in range(3):
        write(corpus, "va_et_vient.txt", f"Version {cycle} : EuraTechnologies accueille des startups.")
        report = refresh_index(settings, FakeEmbedder)
        index = live_index(settings)
        # ids are handed out from a counter that only grows: one per passage ever added
        added = report.embedded_chunks
        assert index.manifest.next_id == previous_next_id + added
        previous_next_id = index.manifest.next_id
        hits = index.search(FakeEmbedder().embed_queries(["EuraTechnologies startups"])[0], 10)
        assert [h.chunk.source for h in hits].count("va_et_vient.txt") == 1
        assert f"Version {cycle}" in index.source_text("va_et_vient.txt")
        (corpus / "va_et_vient.txt").unlink()
        refresh_index(settings, FakeEmbedder)
        assert live_index(settings).sources() == ["base.txt"]


def test_failure_in_the_middle_of_a_save_leaves_the_old_index(settings, corpus, monkeypatch) -> None:
    write(corpus, "a.txt", "OVH a été créé en 1999 à Roubaix.")
    refresh_index(settings, FakeEmbedder)
    before = current_state_dir(settings.index_dir)
    write(corpus, "a.txt", "Texte remplacé sur Isagri.")

    def crash(self, state_dir) -> None:
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(keyword.KeywordIndex, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        refresh_index(settings, FakeEmbedder)
    monkeypatch.undo()
    assert current_state_dir(settings.index_dir) == before
    assert list(settings.index_dir.glob(".tmp-*"))  # the half-written state is there, never live
    assert "1999" in live_index(settings).source_text("a.txt")
    report = refresh_index(settings, FakeEmbedder)  # the next run cleans up and goes on
    assert report.updated == ["a.txt"] and "Isagri" in live_index(settings).source_text("a.txt")
    assert not list(settings.index_dir.glob(".tmp-*"))


def test_killed_index_run_leaves_a_loadable_index(settings, corpus) -> None:
    write(corpus, "a.txt", "OVH a été créé en 1999 à Roubaix.")
    refresh_index(settings, FakeEmbedder)
    before = current_state_dir(settings.index_dir)
    for i in range(50):
        write(corpus, f"f{i:03d}.txt", f"Document {i} sur l'économie numérique des Hauts-de-France. " * 30)
    proc = subprocess.Popen(
        [sys.executable, str(TESTS / "fake_index_run.py"), str(corpus), str(settings.index_dir), "0.05"],
        env=clean_env(PYTHONPATH=str(TESTS)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not (settings.index_dir / ".lock").read_text().strip() == str(proc.pid):
        time.sleep(0.05)
    time.sleep(1.0)  # well into embedding: 0.05 s a passage, hundreds of passages
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert current_state_dir(settings.index_dir) == before
    assert live_index(settings).sources() == ["a.txt"]
    with index_lock(settings.index_dir):  # the dead process's lock is gone
        pass
    assert refresh_index(settings, FakeEmbedder).documents == 51


def test_second_concurrent_run_is_refused_with_a_message(settings, corpus) -> None:
    write(corpus, "a.txt", "OVH a été créé en 1999 à Roubaix.")
    with index_lock(settings.index_dir):
        with pytest.raises(IndexBusyError, match="another 'hdf-assistant index'"):
            refresh_index(settings, FakeEmbedder)
        # the command line says so in one line (before any model is loaded)
        result = subprocess.run(
            [sys.executable, "-m", "hdf_assistant", "--corpus", str(corpus), "--index-dir",
             str(settings.index_dir), "index"], env=clean_env(), capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 1 and "try again when it has finished" in result.stderr
        assert f"pid {os.getpid()}" in result.stderr and "Traceback" not in result.stderr
    assert refresh_index(settings, FakeEmbedder).added == ["a.txt"]


def test_a_running_assistant_picks_up_a_new_index(settings, corpus) -> None:
    write(corpus, "a.txt", "OVH a été créé en 1999 à Roubaix.")
    refresh_index(settings, FakeEmbedder)
    assistant = build_assistant(settings, embedder=FakeEmbedder())
    version = assistant.index.version
    assert assistant.retriever("bm25").retrieve("startups", 1) == []
    write(corpus, "b.txt", "La métropole lilloise compte 1791 startups référencées.")
    refresh_index(settings, FakeEmbedder)  # another process, in effect
    answer = assistant.ask("startups lilloise 1791", retriever="bm25", mode="quote")
    assert assistant.index.version != version
    assert "1791" in answer.citations[0].text


def test_watch_refreshes_once_for_a_burst_of_copies(settings, corpus, tmp_path) -> None:
    write(corpus, "a.txt", "OVH a été créé en 1999 à Roubaix.")
    refresh_index(settings, FakeEmbedder)
    runs = []
    stop = start_watching(corpus, lambda: runs.append(refresh_index(settings, FakeEmbedder)),
                          interval=0.1, debounce=0.8)
    try:
        source = tmp_path / "incoming"
        source.mkdir()
        for i in range(10):
            write(source, f"n{i}.txt", f"Nouveau document numéro {i} sur les startups.")
        for i in range(10):
            shutil.copy(source / f"n{i}.txt", corpus / f"n{i}.txt")
            time.sleep(0.05)
        deadline = time.time() + 60
        while not runs and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)
    finally:
        stop.set()
    assert len(runs) == 1
    assert runs[0].added == [f"n{i}.txt" for i in range(10)]


def test_refreshes_and_readers_share_one_connection_pool(postgres_url: str, settings, corpus: Path,
                                                        fake_embedder) -> None:
    """Every backend opened on one database uses the process's one engine: re-indexing through the
    assistant three times adds no connection pool (each refresh made one before)."""
    from hdf_assistant.assistant import build_assistant, open_backend

    pg = settings.replace(store="postgres", database_url=postgres_url, index_name="one_pool")
    write(corpus, "a.txt", "Lille compte 1791 startups.")
    assistant = build_assistant(pg, embedder=fake_embedder)

    def connections() -> int:
        with assistant.backend.db.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'hdf-assistant'")
            return int(cur.fetchone()[0])

    for n in range(3):
        write(corpus, f"b{n}.txt", f"Roubaix accueille le siège numéro {n} d'OVH.")
        assert assistant.reindex().added == [f"b{n}.txt"]
    assert open_backend(pg).db.engine is assistant.backend.db.engine  # type: ignore[attr-defined]
    from hdf_assistant.web.conversations import ConversationStore

    assert ConversationStore.for_settings(pg)._engine is assistant.backend.db.engine  # type: ignore[attr-defined]
    assert connections() <= 4 + 10  # one pool at most: pool_size 4, SQLAlchemy's default overflow 10


def test_postgres_keeps_retired_rows_for_the_grace_only(postgres_url: str, settings, corpus: Path,
                                                       fake_embedder) -> None:
    """A changed file's old rows stay while a reader may still be on the version before
    (``RETIRED_GRACE_S``, two minutes, as for the local store's replaced states), then go."""
    from hdf_assistant.assistant import open_backend, refresh_index

    pg = settings.replace(store="postgres", database_url=postgres_url, index_name="grace")
    db = open_backend(pg).db  # type: ignore[attr-defined]
    write(corpus, "a.txt", "Lille compte 1791 startups.")
    refresh_index(pg, lambda: fake_embedder)
    write(corpus, "a.txt", "Lille compte 1800 startups.")
    refresh_index(pg, lambda: fake_embedder)

    def retired_rows_after(minutes: int, name: str) -> int:
        with db.cursor(commit=True) as cur:
            cur.execute(f"UPDATE {db.schema}.versions SET committed_at = now() - interval '{minutes} minutes'")
        write(corpus, name, f"Roubaix accueille OVH ({name}).")
        refresh_index(pg, lambda: fake_embedder)  # each commit deletes what no reader can need any more
        with db.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {db.schema}.data_passages WHERE v_to IS NOT NULL")
            return int(cur.fetchone()[0])

    assert retired_rows_after(1, "b.txt") == 1  # within the grace: kept
    assert retired_rows_after(3, "c.txt") == 0  # past it: deleted
