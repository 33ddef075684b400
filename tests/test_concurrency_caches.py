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
