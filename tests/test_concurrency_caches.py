"""Questions answered side by side never trip over the vector caches that
another question is trimming at the same moment (a KeyError, answered 404 by
the API, seen at 100k passages after 5,000 questions)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from conftest import write
from fake_embedder import FakeEmbedder

import hdf_assistant.answer.answerer as answerer
import hdf_assistant.models.embedders as embeddings
from hdf_assistant.assistant import build_assistant
from hdf_assistant.models.embedders import _PrefixedEmbedder


class CachingFake(_PrefixedEmbedder):
    """The real query cache in front of the fake vectors."""

    def __init__(self) -> None:
        super().__init__("fake", "query: ", "passage: ", 16)
        self._fake = FakeEmbedder()
        self.dim = self._fake.dim

    def _encode(self, texts):
        return self._fake.embed_passages(texts)

    def embed_sentences(self, texts):
        return self._fake.embed_sentences(texts)


def test_many_questions_at_once_with_tiny_caches(settings, monkeypatch) -> None:
    monkeypatch.setattr(answerer, "SENTENCE_CACHE", 3)
    monkeypatch.setattr(embeddings, "QUERY_CACHE", 2)
    sentences = " ".join(f"La commune numéro {i} compte {i * 7} habitants et {i} écoles." for i in range(60))
    write(settings.corpus_dir, "communes.txt", sentences)
    assistant = build_assistant(settings, embedder=CachingFake())
    questions = [f"Combien d'habitants compte la commune numéro {i} ?" for i in range(200)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(assistant.ask, questions))
    assert len(answers) == 200 and all(a.question for a in answers)


def test_many_questions_at_once_on_postgres_with_tiny_caches(settings, postgres_url, monkeypatch) -> None:
    """The PostgreSQL reader's passage caches, trimmed by one question while others read them."""
    import hdf_assistant.index.postgres_read as postgres_read

    monkeypatch.setattr(postgres_read, "CHUNK_CACHE", 4)
    monkeypatch.setattr(postgres_read, "SOURCE_CACHE", 1)
    pg = settings.replace(store="postgres", database_url=postgres_url, index_name="tiny_caches")
    for n in range(6):
        write(pg.corpus_dir, f"commune{n}.txt",
              " ".join(f"La commune {n}-{i} compte {i * 7 + n} habitants." for i in range(12)))
    assistant = build_assistant(pg, embedder=CachingFake())
    questions = [f"Combien d'habitants compte la commune {i % 6}-{i % 12} ?" for i in range(120)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(assistant.ask, questions))
    assert len(answers) == 120 and all(a.question for a in answers)


def test_questions_go_on_from_the_old_index_while_one_opens_the_new(settings, fake_embedder, monkeypatch) -> None:
    """A refresh made elsewhere: the first question to see it opens the new version; the others are
    answered from the current one meanwhile, instead of waiting for it (each from one version only)."""
    import threading

    from hdf_assistant.assistant import refresh_index

    write(settings.corpus_dir, "lille.txt", "Lille compte 1791 startups dans le numérique.")
    assistant = build_assistant(settings, embedder=fake_embedder)
    old_version = assistant.index.version
    write(settings.corpus_dir, "roubaix.txt", "Roubaix accueille le siège d'OVH depuis 1999.")
    refresh_index(settings, lambda: fake_embedder)
    opening, release = threading.Event(), threading.Event()
    open_new = assistant.backend.open

    def held_open():
        opening.set()
        release.wait(60)
        return open_new()

    monkeypatch.setattr(assistant.backend, "open", held_open)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(assistant.ask, "Où est le siège d'OVH ?")
        assert opening.wait(60)
        meanwhile = pool.submit(assistant.ask, "Combien de startups à Lille ?").result(timeout=60)
        assert all(r.chunk.source == "lille.txt" for r in meanwhile.retrieved)  # the old version, whole
        release.set()
        first.result(timeout=60)
    assert assistant.index.version != old_version


def test_one_engine_per_process_and_database_closed_at_shutdown(settings, postgres_url) -> None:
    """Opening the index again and again (each refresh, each command) adds no connection pool; at shutdown
    the pool is closed and forgotten."""
    import uuid

    from hdf_assistant.assistant import open_backend
    from hdf_assistant.index import postgres_db

    postgres_db.dispose_engines()
    settings = settings.replace(store="postgres", database_url=postgres_url, index_name=f"t{uuid.uuid4().hex[:12]}")
    backends = [open_backend(settings) for _ in range(5)]
    engines = {id(b.db.engine) for b in backends}  # type: ignore[attr-defined]
    assert len(engines) == 1
    engine = backends[0].db.engine  # type: ignore[attr-defined]
    with backends[0].db.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute("SELECT 1")
    assert engine.pool.checkedin() >= 1
    assert postgres_db.dispose_engines() >= 1
    assert engine.pool.checkedin() == 0 and postgres_db._ENGINES == {}
    assert open_backend(settings).db.engine is not engine  # type: ignore[attr-defined]
