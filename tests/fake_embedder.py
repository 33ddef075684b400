"""A deterministic stand-in for the embedding model, for tests of bookkeeping
(ids, renames, locks, crash recovery, API plumbing), not of meaning.

A text's vector is a signed hash of its analysed terms (the French analyser
of the keyword index) into 64 dimensions, normalised: texts sharing words are
close, the same text always gets the same vector, and nothing is loaded.
Tests of meaning use the real model (``e5_embedder``) and the ``model`` marker.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence

import numpy as np

from hdf_assistant.analysis import analyze


class FakeEmbedder:
    """Implements the ``Embedder`` protocol; counts what it embeds."""

    model_id = "fake-hash-64"
    dim = 64

    def __init__(self, delay: float = 0.0) -> None:
        #: seconds per passage, to make a run slow enough to be interrupted
        self.delay = delay
        self.embedded: list[str] = []

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for term in analyze(text) or [text.strip().lower()]:
            digest = hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest()
            vector[digest[0] % self.dim] += 1.0 if digest[1] % 2 else -1.0
            vector[digest[2] % self.dim] += 0.5
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else np.full(self.dim, self.dim ** -0.5, dtype=np.float32)

    def embed_passages(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        self.embedded.extend(texts)
        rows = []
        for text in texts:
            if self.delay:
                time.sleep(self.delay)
            rows.append(self._vector(text))
            if progress is not None:
                progress(1)
        return np.vstack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.vstack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), dtype=np.float32)

    def embed_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Answer-time sentence vectors: not counted as embedded passages."""
        return np.vstack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), dtype=np.float32)
