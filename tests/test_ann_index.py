"""Above a size threshold queries go through an IVF index kept in step with
the exact one: deleted files never come back, new files are found, and the
approximate results agree with exact search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hdf_assistant import ann_index
from hdf_assistant.assistant import build_assistant
from hdf_assistant.indexing import refresh_index
from hdf_assistant.store import current_state_dir, load_store, read_manifest

TOWNS = ["Arras", "Amiens", "Beauvais", "Calais", "Douai", "Dunkerque", "Lens", "Lille", "Roubaix", "Tourcoing",
         "Valenciennes", "Compiègne", "Laon", "Soissons", "Cambrai", "Maubeuge", "Abbeville", "Saint-Quentin",
         "Boulogne-sur-Mer", "Creil"]
TOPICS = ["la fibre optique", "les tiers lieux", "la cybersécurité", "l'e-santé", "les startups", "les datacentres",
          "la formation au numérique", "les logiciels agricoles", "l'intelligence artificielle", "la robotique"]


def write_town(corpus: Path, i: int, town: str) -> None:
    sentences = [
        f"À {town}, le projet numéro {i * 100 + j} concerne {topic} et mobilise {i * 37 + j * 11} personnes."
        for j, topic in enumerate(TOPICS)
    ]
    # one chunk per sentence pair: about five chunks per town
    (corpus / f"{town.lower()}.txt").write_text("\n\n".join(sentences), encoding="utf-8")


@pytest.fixture()
def small_threshold(monkeypatch):
    monkeypatch.setattr(ann_index, "ANN_MIN_VECTORS", 40)
    monkeypatch.setattr(ann_index, "NPROBE", 4)  # of 40 lists


def test_ivf_index_follows_adds_and_deletes(settings, corpus, e5_embedder, small_threshold) -> None:
    settings = settings.replace(chunk_size=160, chunk_overlap=0)
    for i, town in enumerate(TOWNS[:-1]):
        write_town(corpus, i, town)
    report = refresh_index(settings, lambda: e5_embedder)
    manifest = read_manifest(settings.index_dir)
    assert report.chunks >= 40 and manifest is not None and manifest.ann_trained_on == report.chunks
    assert (current_state_dir(settings.index_dir) / ann_index.FILE_NAME).is_file()

    # approximate and exact search agree on the nearest passage for most questions
    store = load_store(settings.index_dir)
    assert store._ann is not None
    questions = [f"Combien de personnes pour {topic} à {town} ?" for town in TOWNS[:6] for topic in TOPICS[:3]]
    vectors = e5_embedder.embed_queries(questions)
    agree = 0
    for vector in vectors:
        approx = store.search(vector, 1)[0].chunk.id
        _, exact_ids = store._index.search(vector.reshape(1, -1), 1)
        agree += approx == store._by_faiss[int(exact_ids[0][0])]
    assert agree / len(questions) >= 0.8

    # delete one town, add another: the IVF index is updated, not retrained
    (corpus / "arras.txt").unlink()
    (corpus / "creil.txt").write_text(
        "Creil accueille un centre de robotique sous-marine. Ses drones inspectent les écluses de l'Oise.",
        encoding="utf-8")
    report = refresh_index(settings, lambda: e5_embedder)
    assert report.removed == ["arras.txt"] and report.added == ["creil.txt"]
    assert read_manifest(settings.index_dir).ann_trained_on == manifest.ann_trained_on
    store = load_store(settings.index_dir)
    assert store._ann is not None and store._ann.size == store.size
    sources = {hit.chunk.source for v in e5_embedder.embed_queries(["Arras", "projet à Arras"]) for hit in store.search(v, 20)}
    assert "arras.txt" not in sources

    assistant = build_assistant(settings, embedder=e5_embedder)
    hits = assistant.retriever("dense").retrieve("Quels drones inspectent les écluses de l'Oise ?", 5)
    assert hits[0].chunk.source == "creil.txt" and "drones" in hits[0].chunk.text


def test_small_indexes_use_exact_search_only(settings, corpus, e5_embedder) -> None:
    for i, town in enumerate(TOWNS[:3]):
        write_town(corpus, i, town)
    refresh_index(settings, lambda: e5_embedder)
    assert read_manifest(settings.index_dir).ann_trained_on == 0
    assert not (current_state_dir(settings.index_dir) / ann_index.FILE_NAME).exists()
    assert load_store(settings.index_dir)._ann is None


def test_quantizer_is_retrained_when_the_index_has_grown(small_threshold) -> None:
    import faiss

    rng = np.random.default_rng(0)
    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(8))
    first = rng.normal(size=(50, 8)).astype(np.float32)
    exact.add_with_ids(first, np.arange(50))
    ann = ann_index.refreshed(None, exact)
    assert ann is not None and ann.trained_on == 50
    assert ann_index.refreshed(ann, exact) is ann
    more = rng.normal(size=(200, 8)).astype(np.float32)
    exact.add_with_ids(more, np.arange(50, 250))
    ann.add(more, np.arange(50, 250))
    again = ann_index.refreshed(ann, exact)
    assert again is not ann and again.trained_on == 250
    exact.remove_ids(np.arange(0, 230))
    assert ann_index.refreshed(again, exact) is None
