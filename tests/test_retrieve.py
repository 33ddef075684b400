"""Fusion arithmetic and the keyword index staying in step with the dense one."""

from __future__ import annotations

import numpy as np

from hdf_assistant.indexing import refresh_index
from hdf_assistant.retrieve import blend, build_retriever, rank_by_document
from hdf_assistant.store import load_store


def test_blend_weights_normalised_scores() -> None:
    dense = np.array([0.90, 0.80, 0.70])
    keyword = np.array([0.0, 10.0, 5.0])
    # dense only: order of the dense scores
    assert list(np.argsort(-blend(dense, keyword, 0.0))) == [0, 1, 2]
    # keyword only: order of BM25
    assert list(np.argsort(-blend(dense, keyword, 1.0))) == [1, 2, 0]
    # 0.3: 0.7*[1, .5, 0] + 0.3*[0, 1, .5] = [.70, .65, .15]
    assert np.allclose(blend(dense, keyword, 0.3), [0.70, 0.65, 0.15])


def test_rank_by_document_puts_one_passage_per_document_first() -> None:
    sources = ["a", "a", "b", "c", "b"]
    scores = np.array([0.9, 0.8, 0.85, 0.1, 0.2])
    order = rank_by_document(sources, scores, second_weight=0.0)
    assert [sources[i] for i in order[:3]] == ["a", "b", "c"]
    assert order == [0, 2, 3, 1, 4]


def test_keyword_index_follows_rebuilds(settings, corpus, e5_embedder) -> None:
    (corpus / "a.txt").write_text("Isagri édite des logiciels agricoles à Beauvais.", encoding="utf-8")
    (corpus / "b.txt").write_text("Le CITC est un centre d'innovation dédié à l'IOT.", encoding="utf-8")
    refresh_index(settings, lambda: e5_embedder)
    store = load_store(settings.index_dir)
    bm25 = build_retriever("bm25", store, e5_embedder)
    assert bm25.retrieve("Isagri", 3)[0].chunk.source == "a.txt"
    assert sorted(store.keyword.chunk_ids) == sorted(c.id for c in store.chunks())

    (corpus / "a.txt").write_text("Alloweb recense 1 791 startups dans la métropole lilloise.", encoding="utf-8")
    refresh_index(settings, lambda: e5_embedder)
    store = load_store(settings.index_dir)
    bm25 = build_retriever("bm25", store, e5_embedder)
    assert bm25.retrieve("Isagri", 3) == []  # the old text is gone from the keyword index too
    hits = bm25.retrieve("1791 startups", 3)
    assert hits[0].chunk.source == "a.txt" and "1 791" in hits[0].chunk.text
    assert sorted(store.keyword.chunk_ids) == sorted(c.id for c in store.chunks())
    for name in ("dense", "hybrid"):
        top = build_retriever(name, store, e5_embedder).retrieve("Combien de startups à Lille ?", 2)
        assert top[0].chunk.source == "a.txt"


def test_dev_questions_find_their_passage_in_the_top_3(tmp_path, e5_embedder) -> None:
    import json

    import pytest
    from conftest import BUNDLED_CORPUS, REPO

    from hdf_assistant.assistant import build_assistant
    from hdf_assistant.config import load_settings
    from hdf_assistant.conversation import contextualize
    from hdf_assistant.metrics import answer_matches

    dev = REPO.parent / "shared" / "seed" / "dev_questions.jsonl"
    if not dev.is_file():
        pytest.skip("../shared/seed/dev_questions.jsonl is not beside the repository")
    settings = load_settings(env={}, corpus_dir=BUNDLED_CORPUS, index_dir=tmp_path / "index", progress=False)
    assistant = build_assistant(settings, embedder=e5_embedder)
    rows = [json.loads(line) for line in dev.read_text(encoding="utf-8").splitlines() if line.strip()]
    answerable = [r for r in rows if r.get("expected")]
    assert len(answerable) == 10
    for row in answerable:
        query = contextualize(row["question"], row.get("history", []))
        top = assistant.retriever("hybrid").retrieve(query, 3)
        assert any(answer_matches(hit.chunk.text, row["expected"]) for hit in top), row["question"]
