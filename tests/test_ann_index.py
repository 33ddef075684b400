"""Above a size threshold queries go through an IVF index kept in step with
the exact one: deleted files never come back, new files are found, and the
approximate results agree with exact search. Training is an explicit step of
the builder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fake_embedder import FakeEmbedder

from hdf_assistant.assistant import build_assistant, open_backend, refresh_index
from hdf_assistant.index import faiss_vectors
from hdf_assistant.index.faiss_vectors import FaissVectors
from hdf_assistant.index.state import current_state_dir

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
    monkeypatch.setattr(faiss_vectors, "ANN_MIN_VECTORS", 40)
    monkeypatch.setattr(faiss_vectors, "NPROBE", 4)  # of 40 lists


def test_ivf_index_follows_adds_and_deletes(settings, corpus, small_threshold) -> None:
    settings = settings.replace(chunk_size=160, chunk_overlap=0)
    fake = FakeEmbedder()
    for i, town in enumerate(TOWNS[:-1]):
        write_town(corpus, i, town)
    report = refresh_index(settings, lambda: fake)
    manifest = open_backend(settings).read_manifest()
    assert report.chunks >= 40 and manifest is not None and manifest.ann_trained_on == report.chunks
    assert (current_state_dir(settings.index_dir) / faiss_vectors.ANN_FILE).is_file()

    # approximate and exact search agree on the nearest passage for most questions
    index = open_backend(settings).open()
    assert index.uses_approximate_search
    questions = [f"personnes pour {topic} à {town}" for town in TOWNS[:6] for topic in TOPICS[:3]]
    agree = 0
    for vector in fake.embed_queries(questions):
        agree += index.search(vector, 1)[0].chunk.id == index.search(vector, 1, exact=True)[0].chunk.id
    assert agree / len(questions) >= 0.8

    # delete one town, add another: the IVF index is updated, not retrained
    (corpus / "arras.txt").unlink()
    (corpus / "creil.txt").write_text(
        "Creil accueille un centre de robotique sous-marine. Ses drones inspectent les écluses de l'Oise.",
        encoding="utf-8")
    report = refresh_index(settings, lambda: fake)
    assert report.removed == ["arras.txt"] and report.added == ["creil.txt"]
    assert open_backend(settings).read_manifest().ann_trained_on == manifest.ann_trained_on
    index = open_backend(settings).open()
    assert index.uses_approximate_search
    sources = {hit.chunk.source for v in fake.embed_queries(["Arras", "projet à Arras"]) for hit in index.search(v, 20)}
    assert "arras.txt" not in sources

    assistant = build_assistant(settings, embedder=fake)
    hits = assistant.retriever("dense").retrieve("drones écluses Oise", 5)
    assert hits[0].chunk.source == "creil.txt" and "drones" in hits[0].chunk.text


def test_small_indexes_use_exact_search_only(settings, corpus, fake_embedder) -> None:
    for i, town in enumerate(TOWNS[:3]):
        write_town(corpus, i, town)
    refresh_index(settings, lambda: fake_embedder)
    assert open_backend(settings).read_manifest().ann_trained_on == 0
    assert not (current_state_dir(settings.index_dir) / faiss_vectors.ANN_FILE).exists()
    assert not open_backend(settings).open().uses_approximate_search


def test_quantizer_is_retrained_when_the_index_has_grown(small_threshold) -> None:
    rng = np.random.default_rng(0)
    vectors = FaissVectors.empty(8)
    vectors.add(rng.normal(size=(50, 8)).astype(np.float32), np.arange(50))
    assert vectors.approximate is None  # training is an explicit step
    assert vectors.update_approximate() == 50
    trained = vectors.approximate
    assert vectors.update_approximate() == 50 and vectors.approximate is trained  # kept
    vectors.add(rng.normal(size=(200, 8)).astype(np.float32), np.arange(50, 250))
    assert trained.added_since_training == 200  # searched exactly beside the lists until retrained
    assert vectors.update_approximate() == 250 and vectors.approximate is not trained
    vectors.remove(np.arange(0, 230))
    assert vectors.update_approximate() == 0 and vectors.approximate is None


def test_an_ivf_index_of_float_lists_is_replaced_by_one_of_codes(small_threshold) -> None:
    """IVF indexes written before the 8-bit codes cannot give a vector back by id
    (a lean reader then needs the exact index): the next refresh retrains."""
    import faiss

    from hdf_assistant.index.faiss_vectors import ApproximateIndex

    rng = np.random.default_rng(1)
    data = rng.normal(size=(60, 8)).astype(np.float32)
    vectors = FaissVectors.empty(8)
    vectors.add(data, np.arange(60))
    old = faiss.IndexIVFFlat(faiss.IndexFlatIP(8), 8, 4, faiss.METRIC_INNER_PRODUCT)
    old.train(data)
    old.add_with_ids(data, np.arange(60))
    vectors._ann = ApproximateIndex(old, 60)
    assert not vectors.approximate.decodes_by_id
    assert vectors.update_approximate() == 60
    assert vectors.approximate.decodes_by_id
    assert np.abs(vectors.approximate.get(np.array([3, 59])) - data[[3, 59]]).max() < 0.05


def test_opening_and_searching_leave_the_thread_count_to_the_embedder(settings, corpus, fake_embedder) -> None:
    """PyTorch shares FAISS's OpenMP setting: an index opened and searched in the process
    must not leave the torch embedding backend on one core (as it did until issue 20)."""
    import faiss

    for i, town in enumerate(TOWNS[:3]):
        write_town(corpus, i, town)
    refresh_index(settings, lambda: fake_embedder)
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)
    try:
        index = open_backend(settings).open()
        edited = open_backend(settings).edit()
        vector = fake_embedder.embed_queries(["projet à Arras"])[0]
        assert index.search(vector, 3) and edited.search(vector, 3, exact=True)
        assert faiss.omp_get_max_threads() == 2
    finally:
        faiss.omp_set_num_threads(previous)


@pytest.mark.parametrize("exact_max", [0, 50_000], ids=["ivf-scan", "scope-vectors"])
def test_a_scope_is_applied_inside_the_ivf_scan_and_the_recent_buffer(settings, corpus, small_threshold, monkeypatch,
                                                                      exact_max) -> None:
    """Through the IVF index (and its exact buffer of passages added since training), or over the scope's
    own vectors when it is small, a scoped search returns only the scope's passages, as many as asked when
    the scope has them, mostly the exact ones."""
    from hdf_assistant.index import local
    from hdf_assistant.index.scope import Scope

    monkeypatch.setattr(local, "SCOPE_EXACT_MAX", exact_max)
    settings = settings.replace(chunk_size=160, chunk_overlap=0)
    fake = FakeEmbedder()
    (corpus / "nord").mkdir()
    for i, town in enumerate(TOWNS[:-1]):
        write_town(corpus / "nord" if i % 4 == 0 else corpus, i, town)
    refresh_index(settings, lambda: fake)
    write_town(corpus / "nord", 99, TOWNS[-1])  # after training: in the exact buffer
    refresh_index(settings, lambda: fake)
    index = open_backend(settings).open()
    assert index.uses_approximate_search
    nord = Scope.of(["nord"])
    questions = [f"personnes pour {topic} à {town}" for town in TOWNS for topic in TOPICS[:2]]
    overlap = []
    for vector in fake.embed_queries(questions):
        hits = index.search(vector, 5, scope=nord)
        exact = index.search(vector, 5, scope=nord, exact=True)
        assert len(hits) == 5 and all(h.chunk.source.startswith("nord/") for h in hits)
        overlap.append(len({h.chunk.id for h in hits} & {h.chunk.id for h in exact}) / 5)
    assert np.mean(overlap) >= 0.8
    creil = fake.embed_queries([f"personnes pour {TOPICS[0]} à {TOWNS[-1]}"])[0]
    assert index.search(creil, 1, scope=nord)[0].chunk.source == f"nord/{TOWNS[-1].lower()}.txt"
    assert all(not h.chunk.source.startswith("nord/") for h in index.search(creil, 5, scope=Scope.of(["general"])))


def test_a_selector_lets_through_its_ids_only() -> None:
    """Every id of a large index tried: the bitmap selects exactly the given ids (none past its end)."""
    from hdf_assistant.index.faiss_vectors import selector_of

    rng = np.random.default_rng(0)
    vectors = FaissVectors.empty(8)
    data = rng.normal(size=(5000, 8)).astype(np.float32)
    vectors.add(data / np.linalg.norm(data, axis=1, keepdims=True), np.arange(5000, dtype=np.int64))
    chosen = np.array([3, 17, 700, 701, 1024], dtype=np.int64)
    selector = selector_of(chosen)
    for query in data[:20]:
        _, ids = vectors.search(query, 50, selector=selector)
        assert set(ids[ids >= 0].tolist()) == set(chosen.tolist())
