"""Passage ids held compactly: position <-> id without a Python object per id.

A million passage ids as a list of ``str`` and a ``dict`` to find them again
take about 250 MB; as one byte-string array and its sort order, 28 MB. Ids
are looked up by binary search (a few microseconds).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class IdTable:
    """Ids by position (0..n-1), and the position of an id."""

    def __init__(self, ids: Sequence[str] | np.ndarray) -> None:
        if isinstance(ids, np.ndarray) and ids.dtype.kind == "S":
            self._ids = ids
        else:
            encoded = [i.encode("utf-8") for i in ids]
            self._ids = np.array(encoded, dtype=f"S{max((len(e) for e in encoded), default=1)}")
        self._order = np.argsort(self._ids, kind="stable")
        self._sorted = self._ids[self._order]

    def __len__(self) -> int:
        return int(self._ids.size)

    def __getitem__(self, position: int) -> str:
        return bytes(self._ids[position]).decode("utf-8")

    @property
    def array(self) -> np.ndarray:
        """The ids as stored (byte strings), in position order."""
        return self._ids

    def position(self, chunk_id: str) -> int | None:
        """The position of ``chunk_id`` (None when absent)."""
        key = chunk_id.encode("utf-8")
        if self._ids.size == 0 or len(key) > self._ids.dtype.itemsize:
            return None
        at = int(np.searchsorted(self._sorted, key))
        if at < self._sorted.size and self._sorted[at] == key:
            return int(self._order[at])
        return None

    def positions(self, chunk_ids: Sequence[str]) -> list[int | None]:
        """The positions of ``chunk_ids`` (None for an absent one), in one binary search."""
        if not chunk_ids or self._ids.size == 0:
            return [None for _ in chunk_ids]
        keys = np.array([c.encode("utf-8") for c in chunk_ids])
        at = np.minimum(np.searchsorted(self._sorted, keys), self._sorted.size - 1)
        found = self._sorted[at] == keys
        return [int(self._order[a]) if f else None for a, f in zip(at, found)]

    def positions_of(self, ids: np.ndarray) -> np.ndarray:
        """The positions of ``ids`` (byte strings, as :attr:`array` holds them), -1 for an absent one."""
        if ids.size == 0 or self._ids.size == 0:
            return np.full(ids.size, -1, dtype=np.int64)
        keys = ids.astype(self._ids.dtype) if ids.dtype.itemsize <= self._ids.dtype.itemsize else ids
        at = np.minimum(np.searchsorted(self._sorted, keys), self._sorted.size - 1)
        found = self._sorted[at] == keys
        return np.where(found, self._order[at], -1).astype(np.int64)
