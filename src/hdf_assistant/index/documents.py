"""One vector per indexed file: the embedding of its opening sentences.

Retrieval adds the question's similarity to a passage's file (weighted by
the ``document_weight`` setting) to the passage's own cosine, so a passage
that only makes sense inside its file ("Le délai est de 2 mois.") is found
by a question about the file's subject. Passages keep their own vectors: the
passages of one file are still ordered by their own content.

The local backend stores them beside the FAISS index as ``documents.npy``
(unit vectors, float32) and ``documents.json`` (the file of each row).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

VECTORS_FILE = "documents.npy"
SOURCES_FILE = "documents.json"


class DocumentVectors:
    """File name -> unit vector, with a matrix for scoring them all at once."""

    def __init__(self, vectors: dict[str, np.ndarray] | None = None) -> None:
        self._vectors: dict[str, np.ndarray] = dict(vectors or {})
        self._matrix: np.ndarray | None = None
        self._names: list[str] = []
        self._rows: dict[str, int] = {}  # file -> row of the matrix

    def __len__(self) -> int:
        return len(self._vectors)

    def __contains__(self, source: object) -> bool:
        return source in self._vectors

    def sources(self) -> list[str]:
        """The files that have a vector, sorted."""
        return sorted(self._vectors)

    def vector(self, source: str) -> np.ndarray:
        return self._vectors[source]

    def assign(self, sources: Sequence[str], vectors: np.ndarray) -> None:
        """Give each of ``sources`` its vector (a row of ``vectors``)."""
        for source, vector in zip(sources, np.asarray(vectors, dtype=np.float32)):
            self._vectors[source] = vector
        self._matrix = None

    def remove(self, sources: Collection[str]) -> None:
        for source in sources:
            self._vectors.pop(source, None)
        self._matrix = None

    def rename(self, old: str, new: str) -> None:
        if old in self._vectors:
            self._vectors[new] = self._vectors.pop(old)
            self._matrix = None

    def scores(self, vector: np.ndarray) -> DocumentScores:
        """The cosine of ``vector`` with every file's vector (one product)."""
        if not self._vectors:
            return DocumentScores([], {}, np.zeros(0, dtype=np.float32))
        if self._matrix is None:
            self._names = list(self._vectors)
            self._rows = {name: i for i, name in enumerate(self._names)}
            self._matrix = np.vstack([self._vectors[n] for n in self._names])
        values = self._matrix @ np.asarray(vector, dtype=np.float32).reshape(-1)
        return DocumentScores(self._names, self._rows, values)

    def save(self, state_dir: Path) -> None:
        names = list(self._vectors)
        matrix = np.vstack([self._vectors[n] for n in names]) if names else np.zeros((0, 0), np.float32)
        np.save(state_dir / VECTORS_FILE, matrix.astype(np.float32))
        (state_dir / SOURCES_FILE).write_text(json.dumps(names, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, state_dir: Path) -> DocumentVectors:
        """The saved vectors, or none for a state written before they existed."""
        if not (state_dir / SOURCES_FILE).is_file():
            return cls()
        names = json.loads((state_dir / SOURCES_FILE).read_text(encoding="utf-8"))
        matrix = np.load(state_dir / VECTORS_FILE) if names else np.zeros((0, 0), np.float32)
        loaded = cls(dict(zip(names, matrix)))  # rows are views of the matrix: one copy in memory
        if names:
            loaded._names, loaded._matrix = list(names), matrix
            loaded._rows = {name: i for i, name in enumerate(names)}
        return loaded


class DocumentScores:
    """Every file's cosine with one question."""

    def __init__(self, names: list[str], rows: dict[str, int], values: np.ndarray) -> None:
        self._names, self._rows, self.values = names, rows, values

    @property
    def names(self) -> list[str]:
        """The files scored, in the order of ``values``."""
        return self._names

    def __getitem__(self, source: str) -> float:
        """The file's cosine (0 for a file without a vector)."""
        row = self._rows.get(source)
        return 0.0 if row is None else float(self.values[row])

    def nearest(self, k: int) -> list[str]:
        """The ``k`` files nearest to the question, nearest first."""
        if k <= 0 or self.values.size == 0:
            return []
        k = min(k, self.values.size)
        top = np.argpartition(-self.values, k - 1)[:k]
        return [self._names[i] for i in top[np.argsort(-self.values[top], kind="stable")]]
