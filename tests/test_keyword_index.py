"""The keyword index is refreshed incrementally: only new passages are
analysed, unchanged passages are not written again, and the BM25 scores are
exactly those of a full rebuild."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from fake_embedder import FakeEmbedder

from hdf_assistant.assistant import open_backend, refresh_index
from hdf_assistant.index import passages
from hdf_assistant.index.passages import segment_key
from hdf_assistant.index.state import current_state_dir

QUESTIONS = ["startups Lille", "OVH salariés Roubaix", "logiciels agricoles", "fibre optique", "Amiens",
             "datacentre hébergement", "Combien de startups à Lille en 2021 ?"]


def write_corpus(corpus: Path) -> None:
    towns = ["Lille", "Roubaix", "Beauvais", "Amiens", "Calais", "Arras"]
    topics = ["startups", "logiciels agricoles", "fibre optique", "datacentres", "salariés", "hébergement"]
    for i, town in enumerate(towns):
        text = " ".join(f"À {town}, {topics[(i + j) % 6]} : {100 * i + j} projets en {2015 + j}." for j in range(12))
        (corpus / f"{town.lower()}.txt").write_text(text, encoding="utf-8")


def all_scores(index, question: str) -> dict[str, float]:
    ids = [cid for source in index.sources() for cid in index.chunk_ids_of(source)]
    return dict(zip(ids, index.keyword_scores(question, ids).tolist()))


def test_refresh_gives_the_scores_of_a_full_rebuild(settings, corpus, tmp_path, monkeypatch) -> None:
    settings = settings.replace(chunk_size=120, chunk_overlap=0)
    write_corpus(corpus)
    refresh_index(settings, FakeEmbedder)
    old_state = current_state_dir(settings.index_dir)

    analysed: list[str] = []
    real = passages.passage_terms

    def counting(text: str) -> list[str]:
        analysed.append(text)
        return real(text)

    monkeypatch.setattr(passages, "passage_terms", counting)
    (corpus / "lille.txt").write_text("Lille compte 1791 startups référencées. La fibre optique arrive en 2021.",
                                      encoding="utf-8")
    (corpus / "arras.txt").unlink()
    (corpus / "dunkerque.txt").write_text("Dunkerque accueille des datacentres et de l'hébergement.", encoding="utf-8")
    report = refresh_index(settings, FakeEmbedder)
    assert report.updated == ["lille.txt"] and report.added == ["dunkerque.txt"] and report.removed == ["arras.txt"]

    incremental = open_backend(settings).open()
    new = set(incremental.chunk_ids_of("lille.txt") + incremental.chunk_ids_of("dunkerque.txt"))
    assert sorted(analysed) == sorted(incremental.chunk(cid).text for cid in new)  # only new passages analysed

    # unchanged sources' passages are linked from the previous state, not written again
    state = current_state_dir(settings.index_dir)
    for source, same in (("roubaix.txt", True), ("lille.txt", False)):
        key = segment_key(source)
        a, b = old_state / "passages" / f"{key}.json", state / "passages" / f"{key}.json"
        assert (os.stat(a).st_ino == os.stat(b).st_ino) is same

    rebuilt_settings = settings.replace(index_dir=tmp_path / "rebuilt")
    refresh_index(rebuilt_settings, FakeEmbedder, full=True)
    rebuilt = open_backend(rebuilt_settings).open()
    assert incremental.sources() == rebuilt.sources()
    for question in QUESTIONS:
        mine, reference = all_scores(incremental, question), all_scores(rebuilt, question)
        assert mine.keys() == reference.keys()
        assert np.allclose(list(mine.values()), [reference[k] for k in mine], rtol=1e-6, atol=1e-7), question
        top = [(h.chunk.id, round(h.score, 5)) for h in incremental.keyword_search(question, 5)]
        assert top == [(h.chunk.id, round(h.score, 5)) for h in rebuilt.keyword_search(question, 5)]
    assert any(v > 0 for v in all_scores(incremental, "1791 startups").values())
    assert incremental.document_frequency(["dunkerqu", "arras"]) == rebuilt.document_frequency(["dunkerqu", "arras"])
    assert incremental.document_frequency(["arras"]) == {"arras": 0}
