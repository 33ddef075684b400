"""BM25 keyword index over the same chunks as the dense index (bm25s), with
the French analyser. Saved as plain arrays beside FAISS in each index state
and rebuilt whenever the chunks change, so the two never disagree."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hdf_assistant.analysis import analyze, analyze_query

log = logging.getLogger(__name__)

#: Bump when the analyser changes: the manifest records it.
ANALYZER_VERSION = 1
_DIR = "bm25"
_IDS = "chunk_ids.json"


class KeywordIndex:
    """BM25 scores of chunks for a question."""

    def __init__(self, model: Any, chunk_ids: list[str]) -> None:
        self._model = model
        self.chunk_ids = chunk_ids
        self._position = {cid: i for i, cid in enumerate(chunk_ids)}

    @classmethod
    def build(cls, chunk_ids: Sequence[str], texts: Sequence[str]) -> KeywordIndex:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG on import
        model = bm25s.BM25(k1=1.2, b=0.75)
        tokens = [analyze(t) or [""] for t in texts]
        if tokens:
            model.index(tokens, show_progress=False)
        return cls(model if tokens else None, list(chunk_ids))

    def scores(self, question: str) -> np.ndarray:
        """BM25 score of every chunk (aligned with ``chunk_ids``)."""
        terms = analyze_query(question)
        if self._model is None:
            return np.zeros(0, dtype=np.float32)
        known = [t for t in terms if t in self._model.vocab_dict]
        if not known:
            return np.zeros(len(self.chunk_ids), dtype=np.float32)
        return np.asarray(self._model.get_scores(known), dtype=np.float32)

    def document_frequency(self, terms: Sequence[str]) -> dict[str, int]:
        """Number of chunks that contain each term (0 when unknown)."""
        if self._model is None:
            return {t: 0 for t in terms}
        indptr = self._model.scores["indptr"]
        vocab = self._model.vocab_dict
        return {t: int(indptr[vocab[t] + 1] - indptr[vocab[t]]) if t in vocab else 0 for t in terms}

    def position(self, chunk_id: str) -> int | None:
        return self._position.get(chunk_id)

    def save(self, state_dir: Path) -> None:
        target = state_dir / _DIR
        target.mkdir(parents=True, exist_ok=True)
        if self._model is not None:
            self._model.save(str(target))
        (target / _IDS).write_text(json.dumps(self.chunk_ids), encoding="utf-8")

    @classmethod
    def load(cls, state_dir: Path) -> KeywordIndex | None:
        """The saved index, or None when this state has none."""
        import bm25s

        target = state_dir / _DIR
        if not (target / _IDS).is_file():
            return None
        ids = json.loads((target / _IDS).read_text(encoding="utf-8"))
        model = bm25s.BM25.load(str(target), load_corpus=False) if ids else None
        return cls(model, ids)
