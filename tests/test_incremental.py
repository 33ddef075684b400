"""Incremental, atomic and watchable indexing: exactly what changed is
embedded, old text disappears, crashes and concurrent runs lose nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hdf_assistant.assistant import build_assistant
from hdf_assistant.errors import IndexBusyError
from hdf_assistant.indexing import refresh_index
from hdf_assistant.store import current_state_dir, index_lock, load_store
from hdf_assistant.watch import start_watching


class CountingEmbedder:
    """The real model, counting the passages it is asked to embed."""

    def __init__(self, real) -> None:
        self.real = real
        self.model_id, self.dim = real.model_id, real.dim
        self.query_prefix, self.passage_prefix = real.query_prefix, real.passage_prefix
        self.embedded: list[str] = []

    def embed_passages(self, texts, progress=None):
        self.embedded.extend(texts)
        return self.real.embed_passages(texts, progress)

    def embed_queries(self, texts):
        return self.real.embed_queries(texts)


def write(corpus: Path, name: str, text: str) -> None:
    (corpus / name).write_text(text, encoding="utf-8")


def test_add_modify_rename_delete_embed_exactly_what_changed(settings, corpus, e5_embedder) -> None:
    write(corpus, "ovh.txt", "OVH a été créé en 1999 à Roubaix.")
    write(corpus, "citc.txt", "Le CITC est le centre d'innovation de l'IOT à EuraTechnologies.")
    write(corpus, "isagri.txt", "Isagri édite des logiciels agricoles à Beauvais.")
    counter = CountingEmbedder(e5_embedder)
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
    assert load_store(settings.index_dir).documents.sources() == ["alloweb.txt", "centre_iot.txt", "ovh.txt"]

    assistant = build_assistant(settings, embedder=e5_embedder)
    answer = assistant.ask("Combien de salariés OVH emploie-t-il ?")
    assert "1000 salariés" in answer.citations[0].text and "1999" not in answer.text
    citc = assistant.ask("Quel centre d'innovation est dédié à l'IOT ?")
    assert citc.citations[0].source == "centre_iot.txt"
    store = load_store(settings.index_dir)
    everything = " ".join(c.text for c in store.chunks())
    assert "Isagri" not in everything and "1999" not in everything
    assert assistant.retriever("bm25").retrieve("Isagri Beauvais", 5) == []
    assert {c.source for c in store.chunks()} == {"alloweb.txt", "centre_iot.txt", "ovh.txt"}

    counter.embedded.clear()
    again = refresh_index(settings, lambda: counter)
    assert again.unchanged == ["alloweb.txt", "centre_iot.txt", "ovh.txt"] and counter.embedded == []


def test_add_delete_add_cycles_keep_faiss_ids_unique(settings, corpus, e5_embedder) -> None:
    write(corpus, "base.txt", "Le CITC soutient l'IOT.")
    seen: set[int] = set()
    for cycle in range(3):
        write(corpus, "va_et_vient.txt", f"Version {cycle} : EuraTechnologies accueille des startups.")
        refresh_index(settings, lambda: e5_embedder)
        store = load_store(settings.index_dir)
        ids = list(store._ids.values())
        assert len(ids) == len(set(ids)) == store.size
        new = {store._ids[c.id] for c in store.chunks() if c.source == "va_et_vient.txt"}
        assert not (new & seen)  # a removed id is never handed out again
        seen |= new
        (corpus / "va_et_vient.txt").unlink()
        refresh_index(settings, lambda: e5_embedder)
        assert {c.source for c in load_store(settings.index_dir).chunks()} == {"base.txt"}


def test_failure_in_the_middle_of_a_save_leaves_the_old_index(settings, corpus, e5_embedder, monkeypatch) -> None:
    write(corpus, "a.txt", "OVH a été créé en 1999 à Roubaix.")
    refresh_index(settings, lambda: e5_embedder)
    before = current_state_dir(settings.index_dir)
    write(corpus, "a.txt", "Texte remplacé sur Isagri.")

    from hdf_assistant import keyword_index

    def crash(self, state_dir) -> None:
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(keyword_index.KeywordIndex, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        refresh_index(settings, lambda: e5_embedder)
    monkeypatch.undo()
    assert current_state_dir(settings.index_dir) == before
    assistant = build_assistant(settings, embedder=e5_embedder)
    assert "1999" in assistant.ask("Quand OVH a-t-il été créé ?").citations[0].text
    report = refresh_index(settings, lambda: e5_embedder)  # the next run repairs and goes on
    assert report.updated == ["a.txt"]
    assert not list(settings.index_dir.glob(".tmp-*"))


def test_killed_index_run_leaves_a_loadable_index(settings, corpus, e5_embedder, tmp_path) -> None:
    write(corpus, "a.txt", "OVH a été créé en 1999 à Roubaix.")
    refresh_index(settings, lambda: e5_embedder)
    before = current_state_dir(settings.index_dir)
    for i in range(300):  # about 1,300 passages: many seconds of embedding even with int8
        write(corpus, f"f{i:03d}.txt", f"Document {i} sur l'économie numérique des Hauts-de-France. " * 30)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HDF_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hdf_assistant", "--corpus", str(corpus), "--index-dir", str(settings.index_dir),
         "index"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (settings.index_dir / ".lock").read_text().strip() == str(proc.pid):
        time.sleep(0.2)
    time.sleep(4)  # well into loading the model or embedding
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert current_state_dir(settings.index_dir) == before
    store = load_store(settings.index_dir)
    assert {c.source for c in store.chunks()} == {"a.txt"}
    with index_lock(settings.index_dir):  # the dead process's lock is gone
        pass


def test_second_concurrent_run_is_refused_with_a_message(settings, corpus, e5_embedder) -> None:
    write(corpus, "a.txt", "OVH a été créé en 1999 à Roubaix.")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HDF_")}
    with index_lock(settings.index_dir):
        with pytest.raises(IndexBusyError, match="another 'hdf-assistant index'"):
            refresh_index(settings, lambda: e5_embedder)
        result = subprocess.run(
            [sys.executable, "-m", "hdf_assistant", "--corpus", str(corpus), "--index-dir",
             str(settings.index_dir), "index"], env=env, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 1 and "try again when it has finished" in result.stderr
    assert refresh_index(settings, lambda: e5_embedder).added == ["a.txt"]


def test_a_running_assistant_picks_up_a_new_index(settings, corpus, e5_embedder) -> None:
    write(corpus, "a.txt", "OVH a été créé en 1999 à Roubaix.")
    refresh_index(settings, lambda: e5_embedder)
    assistant = build_assistant(settings, embedder=e5_embedder)
    assert assistant.ask("Combien de startups à Lille ?").abstained
    write(corpus, "b.txt", "La métropole lilloise compte 1791 startups référencées.")
    refresh_index(settings, lambda: e5_embedder)  # another process, in effect
    answer = assistant.ask("Combien de startups à Lille ?")
    assert not answer.abstained and "1791" in answer.citations[0].text


def test_watch_refreshes_once_for_a_burst_of_copies(settings, corpus, e5_embedder, tmp_path) -> None:
    write(corpus, "a.txt", "OVH a été créé en 1999 à Roubaix.")
    refresh_index(settings, lambda: e5_embedder)
    runs = []
    stop = start_watching(corpus, lambda: runs.append(refresh_index(settings, lambda: e5_embedder)),
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
