"""Approximate search for large indexes: an inverted-file (IVF) FAISS index.

Below :data:`ANN_MIN_VECTORS` the exact index answers every query (it is
faster than any approximation there: 0.25 ms at 10k vectors on this machine;
see benchmarks/README.md). From that size on, an ``IndexIVFFlat`` with a
k-means quantizer trained on the index's own vectors is kept beside the exact
one: a query scans :data:`NPROBE` of its lists instead of every vector.

IVF rather than HNSW because it supports removals: an incremental update
adds and removes the same FAISS ids in both indexes, and the quantizer is
retrained only when the index has grown :data:`RETRAIN_GROWTH` times since it
was trained. Passages added after training go to a small exact index searched
beside the IVF lists: a new file unlike the training data (whose vectors fall
in lists a query would not scan) is still found. The exact index stays the reference (page texts, scores of given
chunks, retraining).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: From this many vectors on, queries go through the IVF index.
ANN_MIN_VECTORS = 50_000
#: Lists scanned per query.
NPROBE = 24
RETRAIN_GROWTH = 4.0
#: Passages added since training searched exactly; beyond this many, retrain.
RECENT_MAX = 20_000
FILE_NAME = "ann.faiss"
RECENT_FILE_NAME = "ann-recent.faiss"


def _faiss() -> Any:
    import faiss

    return faiss


def _lists_for(size: int) -> int:
    return max(16, int(4 * math.sqrt(size)))


def exact_vectors(exact: Any) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, FAISS ids) held by an ``IndexIDMap2(IndexFlatIP)``."""
    faiss = _faiss()
    flat = faiss.downcast_index(exact.index)
    vectors = faiss.vector_to_array(flat.codes).view(np.float32).reshape(-1, flat.d)
    ids = faiss.vector_to_array(exact.id_map).astype(np.int64)
    return vectors, ids


class ApproximateIndex:
    """An IVF index over the same (id, vector) pairs as the exact index."""

    def __init__(self, index: Any, trained_on: int, recent: Any = None) -> None:
        self._index = index
        self.trained_on = trained_on
        self._index.nprobe = NPROBE
        self._recent = recent if recent is not None else _faiss().IndexIDMap2(_faiss().IndexFlatIP(index.d))

    @classmethod
    def train(cls, exact: Any) -> ApproximateIndex:
        faiss = _faiss()
        vectors, ids = exact_vectors(exact)
        lists = _lists_for(len(vectors))
        quantizer = faiss.IndexFlatIP(vectors.shape[1])
        index = faiss.IndexIVFFlat(quantizer, vectors.shape[1], lists, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 10
        index.cp.max_points_per_centroid = 64  # a sample is enough to place the centroids
        previous = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # training is a batch job: every core
        try:
            index.train(vectors)
            index.add_with_ids(vectors, ids)
        finally:
            faiss.omp_set_num_threads(previous)
        log.info("event=ann_trained vectors=%d lists=%d", len(vectors), lists)
        return cls(index, len(vectors))

    @classmethod
    def load(cls, folder: Path, trained_on: int) -> ApproximateIndex | None:
        path = folder / FILE_NAME
        if not path.is_file():
            return None
        faiss = _faiss()
        index = faiss.read_index(str(path))
        recent_path = folder / RECENT_FILE_NAME
        recent = faiss.read_index(str(recent_path)) if recent_path.is_file() else None
        return cls(index, trained_on or int(index.ntotal), recent)

    @property
    def size(self) -> int:
        return int(self._index.ntotal + self._recent.ntotal)

    @property
    def added_since_training(self) -> int:
        """Passages in the exact buffer beside the IVF lists."""
        return int(self._recent.ntotal)

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        self._recent.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> None:
        self._index.remove_ids(ids)
        self._recent.remove_ids(ids)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self._index.search(query, k)
        if self._recent.ntotal == 0:
            return scores, ids
        fresh_scores, fresh_ids = self._recent.search(query, min(k, int(self._recent.ntotal)))
        all_scores = np.concatenate([scores, fresh_scores], axis=1)
        all_ids = np.concatenate([ids, fresh_ids], axis=1)
        order = np.argsort(-all_scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(all_scores, order, 1), np.take_along_axis(all_ids, order, 1)

    def save(self, folder: Path) -> None:
        faiss = _faiss()
        faiss.write_index(self._index, str(folder / FILE_NAME))
        if self._recent.ntotal:
            faiss.write_index(self._recent, str(folder / RECENT_FILE_NAME))


def refreshed(current: ApproximateIndex | None, exact: Any) -> ApproximateIndex | None:
    """The approximate index to keep for ``exact`` (trained, reused or none)."""
    size = int(exact.ntotal)
    if size < ANN_MIN_VECTORS:
        return None
    if (current is None or current.size != size or size > RETRAIN_GROWTH * current.trained_on
            or current.added_since_training > RECENT_MAX):
        return ApproximateIndex.train(exact)
    return current
