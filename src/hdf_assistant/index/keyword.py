"""BM25 keyword index (bm25s) over the passages' analysed terms.

The terms of each passage (the French analyser's output, see analysis.py) are
made once, when the passage is added, and stored with it; building the index
is then only counting (about 0.2 s for 10,000 passages), so a refresh analyses
only the added passages and gives exactly the scores of a full rebuild.
Saved as bm25s arrays plus the passage order, beside FAISS in each state. A
loaded index maps its arrays from disk (a question reads the postings of its
own terms only) and holds the passage ids compactly (id_table.py), so a
million-passage index costs the serving process tens of megabytes, not
hundreds.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hdf_assistant.analysis import analyze_query
from hdf_assistant.index.id_table import IdTable

log = logging.getLogger(__name__)

#: BM25 parameters (the postgres backend scores with the same formula)
K1 = 1.2
B = 0.75
_DIR = "bm25"
_IDS = "chunk_ids.npy"
_IDS_JSON = "chunk_ids.json"  # states written before the compact ids


def _bm25s() -> Any:
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG on import
    return bm25s


def _idf(passages: float, df: int) -> float:
    """Lucene's idf, as bm25s computes it."""
    return math.log(1 + (passages - df + 0.5) / (df + 0.5))


class KeywordIndex:
    """BM25 scores of passages for a question."""

    def __init__(self, model: Any, chunk_ids: Sequence[str] | IdTable) -> None:
        self._model = model
        self._ids = chunk_ids if isinstance(chunk_ids, IdTable) else IdTable(chunk_ids)
        self._last: tuple[str, np.ndarray] | None = None  # the hybrid asks twice per question

    @classmethod
    def build(cls, chunk_ids: Sequence[str], terms: Sequence[Sequence[str]]) -> KeywordIndex:
        """The index of passages ``chunk_ids`` whose analysed terms are ``terms``."""
        tokens = [list(t) or [""] for t in terms]
        if not tokens:
            return cls(None, [])
        model = _bm25s().BM25(k1=K1, b=B)  # idf ln(1 + (N - df + 0.5) / (df + 0.5)), Lucene's
        model.index(tokens, show_progress=False)
        return cls(model, chunk_ids)

    def mask_of(self, chunk_ids: np.ndarray) -> np.ndarray:
        """A boolean per passage of this index (aligned with ``chunk_ids``): True for those of ``chunk_ids``
        (byte strings)."""
        mask = np.zeros(len(self._ids), dtype=bool)
        positions = self._ids.positions_of(chunk_ids)
        mask[positions[positions >= 0]] = True
        return mask

    def scores(self, question: str, mask: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every passage (aligned with ``chunk_ids``). With ``mask``, only the passages it
        holds exist: the others score 0 and the statistics (number of passages, each term's document
        frequency) are counted among the masked passages alone, so that a score says nothing of the
        words of the passages outside (the average length stays the whole index's)."""
        if mask is not None:
            return self._scores_within(question, mask)
        last = self._last  # one read: another thread may replace it meanwhile
        if last is not None and last[0] == question:
            return last[1]
        if self._model is None:
            return np.zeros(0, dtype=np.float32)
        known = [t for t in analyze_query(question) if t in self._model.vocab_dict]
        if not known:
            values = np.zeros(len(self._ids), dtype=np.float32)
        else:
            values = np.asarray(self._model.get_scores(known), dtype=np.float32)
        self._last = (question, values)
        return values

    def _scores_within(self, question: str, mask: np.ndarray) -> np.ndarray:
        values = np.zeros(len(self._ids), dtype=np.float32)
        if self._model is None or not mask.any():
            return values
        vocab = self._model.vocab_dict
        matrix = self._model.scores
        indptr, indices, data = matrix["indptr"], matrix["indices"], matrix["data"]
        total, inside_total = float(len(self._ids)), float(mask.sum())
        for term in analyze_query(question):  # a repeated term counts again, as in ``scores``
            if term not in vocab:
                continue
            start, end = int(indptr[vocab[term]]), int(indptr[vocab[term] + 1])
            docs = np.asarray(indices[start:end])
            inside = mask[docs]
            df_inside = int(inside.sum())
            if not df_inside:
                continue
            factor = _idf(inside_total, df_inside) / _idf(total, end - start)
            np.add.at(values, docs[inside], np.asarray(data[start:end])[inside] * factor)
        return values

    def top(self, question: str, k: int, mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        """The ``k`` passages with the highest positive scores, best first (among ``mask``'s)."""
        scores = self.scores(question, mask)
        if scores.size == 0:
            return []
        k = min(k, scores.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._ids[int(p)], float(scores[p])) for p in top[scores[top] > 0]]

    def scores_of(self, question: str, chunk_ids: Sequence[str], mask: np.ndarray | None = None) -> np.ndarray:
        """The scores of the given passages (0 for one the index, or ``mask``, does not hold)."""
        scores = self.scores(question, mask)
        positions = self._ids.positions(chunk_ids)
        return np.array([scores[p] if p is not None else 0.0 for p in positions], dtype=np.float32)

    def document_frequency(self, terms: Sequence[str], mask: np.ndarray | None = None) -> dict[str, int]:
        """Number of passages (of ``mask``'s) that contain each term (0 when unknown)."""
        if self._model is None:
            return {t: 0 for t in terms}
        indptr = self._model.scores["indptr"]
        vocab = self._model.vocab_dict
        if mask is None:
            return {t: int(indptr[vocab[t] + 1] - indptr[vocab[t]]) if t in vocab else 0 for t in terms}
        indices = self._model.scores["indices"]
        return {t: int(mask[np.asarray(indices[indptr[vocab[t]]:indptr[vocab[t] + 1]])].sum()) if t in vocab else 0
                for t in terms}

    def save(self, state_dir: Path) -> None:
        target = state_dir / _DIR
        target.mkdir(parents=True, exist_ok=True)
        if self._model is not None:
            self._model.save(str(target))
        np.save(target / _IDS, self._ids.array)

    @classmethod
    def load(cls, state_dir: Path) -> KeywordIndex | None:
        """The saved index (its arrays mapped from disk), or None when this state has none."""
        target = state_dir / _DIR
        if (target / _IDS).is_file():
            ids = IdTable(np.load(target / _IDS))
        elif (target / _IDS_JSON).is_file():
            ids = IdTable(json.loads((target / _IDS_JSON).read_text(encoding="utf-8")))
        else:
            return None
        model = _bm25s().BM25.load(str(target), load_corpus=False, mmap=True, show_progress=False) if len(ids) else None
        return cls(model, ids)
