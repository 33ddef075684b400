"""Passage vectors in FAISS: the only module that imports faiss.

An exact index (``IndexIDMap2`` over ``IndexFlatIP``: cosine on unit
vectors) holds every passage under a FAISS id that is never reused. From
:data:`ANN_MIN_VECTORS` passages on, an inverted-file index (IVF) with a
k-means quantizer trained on the index's own vectors answers the dense search
instead: a query scans :data:`NPROBE` of its lists (0.25 ms exact at 10k
vectors is faster than any approximation; see benchmarks/README.md).

The IVF lists hold 8-bit codes (a scalar quantizer: 384 bytes a vector, a
quarter of float32) and a map from id to code, so a reading process (see
:meth:`FaissVectors.load`, ``lean``) keeps only them in memory: a passage's
stored vector is decoded from its code (within about 0.001 of each
component), the exact index stays on disk and is mapped only if an exact
search is asked for. The builder loads the exact index whole.

IVF rather than HNSW because it supports removals: an incremental update adds
and removes the same ids in both indexes. Passages added after training go to
a small exact index searched beside the IVF lists, so a new file unlike the
training data is still found. Training is an explicit step
(:meth:`FaissVectors.update_approximate`), run by the builder: the quantizer is
retrained when the index has grown :data:`RETRAIN_GROWTH` times since it was
trained or :data:`RECENT_MAX` passages were added since.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from hdf_assistant.errors import IndexMissingError

log = logging.getLogger(__name__)

#: From this many vectors on, queries go through the IVF index.
ANN_MIN_VECTORS = 50_000
#: Lists scanned per query: chosen on the development questions' recall@10 against exact search (100k / 1M
#: passages: 24 lists 0.940 / 0.955, 48 0.960 / 0.964, 64 0.971 / 0.964, 96 0.976 / 0.965; 0.8 / 1.5 ms at 64).
NPROBE = 64
RETRAIN_GROWTH = 4.0
#: Passages added since training searched exactly; beyond this many, retrain.
RECENT_MAX = 20_000
EXACT_FILE = "vectors.faiss"
ANN_FILE = "ann.faiss"
ANN_RECENT_FILE = "ann-recent.faiss"


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise IndexMissingError("faiss is not installed: pip install faiss-cpu") from exc
    return faiss


@contextmanager
def _one_thread() -> Iterator[None]:
    """FAISS on one OpenMP thread for this block. The setting is the calling
    thread's, and PyTorch shares it: set for good (as it was until issue 20),
    it left the ``torch`` embedding backend on one core in any process that had
    opened an index."""
    faiss = _faiss()
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def filtered_nprobe(share: float, lists: int) -> int:
    """IVF lists scanned when only ``share`` of the passages may be returned: the nearest allowed
    passages lie farther, in more lists, and a scan skips the others' codes at little cost
    (benchmarks/README.md, "Filtered retrieval")."""
    if share >= 1.0:
        return min(NPROBE, lists)
    return min(lists, int(math.ceil(NPROBE / math.sqrt(max(share, 1e-4)))))


def _search(index: Any, query: np.ndarray, k: int, selector: Selector | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``index.search``, among ``selector``'s ids when given."""
    if selector is None:
        return index.search(query, k)
    return index.search(query, k, params=_faiss().SearchParameters(sel=selector.native))


class Selector:
    """A FAISS ``IDSelector`` of some ids, for a search among them only: a bitmap over the ids (a bit test
    per scanned code, cheaper than ``IDSelectorBatch``'s hash set), which it keeps alive."""

    def __init__(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        bits = np.zeros(int(ids.max()) // 8 + 1 if ids.size else 1, dtype=np.uint8)
        np.bitwise_or.at(bits, ids >> 3, (1 << (ids & 7)).astype(np.uint8))
        self._bits = bits  # FAISS reads this memory: kept as long as the selector
        faiss = _faiss()
        self.native = faiss.IDSelectorBitmap(bits.size, faiss.swig_ptr(bits))  # n: bytes of the bitmap


def selector_of(ids: np.ndarray) -> Selector:
    """A selector of the given ids (for a search among them only)."""
    return Selector(ids)


def _lists_for(size: int) -> int:
    return max(16, int(4 * math.sqrt(size)))


def _exact(dim: int) -> Any:
    faiss = _faiss()
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


class ApproximateIndex:
    """An IVF index over the same (id, vector) pairs as the exact index, and
    the exact buffer of the passages added since it was trained."""

    def __init__(self, index: Any, trained_on: int, recent: Any = None) -> None:
        self._index = index
        self.trained_on = trained_on
        self._index.nprobe = NPROBE
        self._recent = recent if recent is not None else _exact(index.d)
        self._recent_ids: set[int] | None = None  # ids in the exact buffer, once asked for

    @property
    def decodes_by_id(self) -> bool:
        """Whether a stored vector can be read back by id (IVF lists with an id map)."""
        return int(self._index.direct_map.type) != 0

    def get(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (decoded from the IVF codes, or exact
        for passages added since training)."""
        out = np.zeros((len(ids), self._index.d), dtype=np.float32)
        if self._recent_ids is None:
            self._recent_ids = set(_faiss().vector_to_array(self._recent.id_map).tolist())
        fresh = np.array([int(i) in self._recent_ids for i in ids], dtype=bool)
        if fresh.any():
            out[fresh] = self._recent.reconstruct_batch(np.asarray(ids, dtype=np.int64)[fresh])
        if (~fresh).any():
            out[~fresh] = self._index.reconstruct_batch(np.asarray(ids, dtype=np.int64)[~fresh])
        return out

    @classmethod
    def train(cls, vectors: np.ndarray, ids: np.ndarray) -> ApproximateIndex:
        faiss = _faiss()
        lists = _lists_for(len(vectors))
        quantizer = faiss.IndexFlatIP(vectors.shape[1])
        index = faiss.IndexIVFScalarQuantizer(quantizer, vectors.shape[1], lists, faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 10
        index.cp.max_points_per_centroid = 64  # a sample is enough to place the centroids
        previous = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # training is a batch job: every core
        try:
            index.train(vectors)
            index.set_direct_map_type(faiss.DirectMap.Hashtable)  # id -> code: stored vectors read back
            index.add_with_ids(vectors, ids)
        finally:
            faiss.omp_set_num_threads(previous)
        log.info("event=ann_trained vectors=%d lists=%d", len(vectors), lists)
        return cls(index, len(vectors))

    @property
    def size(self) -> int:
        return int(self._index.ntotal + self._recent.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    @property
    def added_since_training(self) -> int:
        """Passages in the exact buffer beside the IVF lists."""
        return int(self._recent.ntotal)

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        self._recent.add_with_ids(vectors, ids)
        self._recent_ids = None

    def remove(self, ids: np.ndarray) -> None:
        self._index.remove_ids(ids)
        self._recent.remove_ids(ids)
        self._recent_ids = None

    def search(self, query: np.ndarray, k: int, selector: Selector | None = None,
               share: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest; with ``selector`` (a FAISS ``IDSelector``), among its ids only, which are
        ``share`` of the index: the lists scanned grow as the share shrinks (:func:`filtered_nprobe`)."""
        if selector is None:
            scores, ids = self._index.search(query, k)
        else:
            faiss = _faiss()
            params = faiss.SearchParametersIVF(sel=selector.native, nprobe=filtered_nprobe(share, int(self._index.nlist)))
            scores, ids = self._index.search(query, k, params=params)
        if self._recent.ntotal == 0:
            return scores, ids
        fresh_scores, fresh_ids = _search(self._recent, query, min(k, int(self._recent.ntotal)), selector)
        all_scores = np.concatenate([scores, fresh_scores], axis=1)
        all_ids = np.concatenate([ids, fresh_ids], axis=1)
        order = np.argsort(-all_scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(all_scores, order, 1), np.take_along_axis(all_ids, order, 1)

    def save(self, folder: Path) -> None:
        faiss = _faiss()
        faiss.write_index(self._index, str(folder / ANN_FILE))
        if self._recent.ntotal:
            faiss.write_index(self._recent, str(folder / ANN_RECENT_FILE))

    @classmethod
    def load(cls, folder: Path, trained_on: int) -> ApproximateIndex | None:
        path = folder / ANN_FILE
        if not path.is_file():
            return None
        faiss = _faiss()
        index = faiss.read_index(str(path))
        recent_path = folder / ANN_RECENT_FILE
        recent = faiss.read_index(str(recent_path)) if recent_path.is_file() else None
        return cls(index, trained_on or int(index.ntotal), recent)


class FaissVectors:
    """Unit vectors by FAISS id: exact search, or IVF from a size on."""

    def __init__(self, exact: Any, ann: ApproximateIndex | None = None, exact_path: Path | None = None) -> None:
        self._exact = exact
        self._ann = ann
        #: a lean reader's exact index, mapped from disk on first use
        self._exact_path = exact_path

    @classmethod
    def empty(cls, dim: int) -> FaissVectors:
        return cls(_exact(dim))

    @classmethod
    def load(cls, folder: Path, ann_trained_on: int, lean: bool = False) -> FaissVectors:
        """The saved vectors. ``lean`` (for reading only): when the IVF index can
        read a vector back by id, the exact index is not loaded."""
        faiss = _faiss()
        ann = ApproximateIndex.load(folder, ann_trained_on)
        if lean and ann is not None and ann.decodes_by_id:
            return cls(None, ann, folder / EXACT_FILE)
        return cls(faiss.read_index(str(folder / EXACT_FILE)), ann)

    @property
    def writable(self) -> bool:
        return self._exact_path is None

    def _exact_index(self) -> Any:
        if self._exact is None:
            assert self._exact_path is not None
            faiss = _faiss()
            self._exact = faiss.read_index(str(self._exact_path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        return self._exact

    @property
    def size(self) -> int:
        if self._exact is None and self._ann is not None:
            return self._ann.size
        return int(self._exact_index().ntotal)

    @property
    def dim(self) -> int:
        if self._exact is None and self._ann is not None:
            return int(self._ann.dim)
        return int(self._exact_index().d)

    @property
    def approximate(self) -> ApproximateIndex | None:
        """The IVF index the dense search goes through, if any."""
        return self._ann

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._exact.add_with_ids(vectors, ids)
        if self._ann is not None:
            self._ann.add(vectors, ids)

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self._exact.remove_ids(ids)
            if self._ann is not None:
                self._ann.remove(ids)

    def get(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids``, one row each (decoded from the IVF
        codes in a lean reader)."""
        if not len(ids):
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._exact is None and self._ann is not None:
            return self._ann.get(np.asarray(ids, dtype=np.int64))
        return np.asarray(self._exact.reconstruct_batch(np.asarray(ids, dtype=np.int64)), dtype=np.float32)

    def exact_vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored float vectors of ``ids`` (from the exact index, mapped from disk in a lean reader)."""
        if not len(ids):
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._exact_index().reconstruct_batch(np.asarray(ids, dtype=np.int64)), dtype=np.float32)

    def all(self) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, ids) of every stored passage."""
        faiss = _faiss()
        flat = faiss.downcast_index(self._exact.index)
        vectors = faiss.vector_to_array(flat.codes).view(np.float32).reshape(-1, flat.d)
        ids = faiss.vector_to_array(self._exact.id_map).astype(np.int64)
        return vectors, ids

    def search(self, vector: np.ndarray, k: int, exact: bool = False, selector: Selector | None = None,
               share: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids of the ``k`` nearest passages (ids -1 pad a short
        result); through the IVF index when there is one, unless ``exact``. With ``selector``
        (:func:`selector_of`), among its ids only (``share`` of the passages): the filter is
        applied inside FAISS's scan, not to its results."""
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        k = min(k, self.size)
        with _one_thread():  # one query at a time: one thread is fastest
            if exact or self._ann is None:
                scores, ids = _search(self._exact_index(), query, k, selector)
            else:
                scores, ids = self._ann.search(query, k, selector, share)
        return scores[0], ids[0]

    def update_approximate(self) -> int:
        """Train, keep or drop the IVF index for the current size; returns the
        size it was trained on (0: none)."""
        size = self.size
        ann = self._ann
        if size < ANN_MIN_VECTORS:
            self._ann = None
        elif (ann is None or ann.size != size or size > RETRAIN_GROWTH * ann.trained_on
              or ann.added_since_training > RECENT_MAX
              or not ann.decodes_by_id):  # an IVF index of float lists from before the 8-bit codes
            self._ann = ApproximateIndex.train(*self.all())
        return self._ann.trained_on if self._ann is not None else 0

    def save(self, folder: Path) -> None:
        _faiss().write_index(self._exact, str(folder / EXACT_FILE))
        if self._ann is not None:
            self._ann.save(folder)
