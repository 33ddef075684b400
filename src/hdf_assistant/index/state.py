"""The index directory on disk: state directories, the atomic switch, the
update lock (atomic writes of single files: ``hdf_assistant.atomic``).

Layout::

    index/
      CURRENT          name of the live state directory (replaced atomically)
      state-<stamp>/   one complete, immutable state of the index
      .lock            held by the one process allowed to write

A writer fills a fresh ``.tmp-<stamp>`` directory, renames it to
``state-<stamp>`` and then replaces ``CURRENT``: a reader sees the old state
or the new one, never a half-written one. Files that do not change between
states are hard-linked from the previous state rather than written again.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hdf_assistant.atomic import atomic_write_text
from hdf_assistant.errors import IndexBusyError
from hdf_assistant.index.bookkeeping import RETIRED_GRACE_S

log = logging.getLogger(__name__)

CURRENT_FILE = "CURRENT"
STATE_PREFIX = "state-"
_TMP_PREFIX = ".tmp-"


# -- states --------------------------------------------------------------------
def current_state_dir(index_dir: Path) -> Path | None:
    """The live state directory, or None when no index was built."""
    pointer = index_dir / CURRENT_FILE
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not name.startswith(STATE_PREFIX) or "/" in name:
        return None
    state = index_dir / name
    return state if (state / "manifest.json").is_file() else None


def new_state_dir(index_dir: Path) -> Path:
    """A fresh, empty directory to write the next state into (not live yet)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    tmp = index_dir / f"{_TMP_PREFIX}{_stamp()}"
    tmp.mkdir()
    return tmp


def publish_state(index_dir: Path, written: Path) -> Path:
    """Make the completely written directory ``written`` (from
    :func:`new_state_dir`) the live state: one rename of the directory, one
    atomic replacement of ``CURRENT``. The previous state is kept (a reader may
    still be loading it), and so is any older one replaced less than
    :data:`RETIRED_GRACE_S` ago (a reader may still be answering from it);
    the others are removed."""
    target = index_dir / f"{STATE_PREFIX}{written.name.removeprefix(_TMP_PREFIX)}"
    os.replace(written, target)
    previous = current_state_dir(index_dir)
    atomic_write_text(index_dir / CURRENT_FILE, target.name)
    keep = {target.name, previous.name if previous else ""}
    states = sorted(index_dir.glob(f"{STATE_PREFIX}*"), key=lambda p: p.name)  # names sort by time
    now = time.time()
    for old, successor in zip(states, states[1:]):
        if old.name in keep:
            continue
        try:
            replaced_at = (successor / "manifest.json").stat().st_mtime
        except OSError:
            replaced_at = 0.0
        if now - replaced_at >= RETIRED_GRACE_S:
            shutil.rmtree(old, ignore_errors=True)
    return target


def remove_unfinished(index_dir: Path) -> None:
    """Remove what an interrupted writer left behind (call while holding the lock)."""
    for leftover in list(index_dir.glob(f"{_TMP_PREFIX}*")) + list(index_dir.glob(f".{CURRENT_FILE}.*")):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + f"-{time.time_ns() % 1_000_000_000:09d}"


# -- the update lock -----------------------------------------------------------
@contextmanager
def index_lock(index_dir: Path) -> Iterator[None]:
    """Exclusive right to update ``index_dir`` (released even if the process dies)."""
    import fcntl

    index_dir.mkdir(parents=True, exist_ok=True)
    path = index_dir / ".lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise IndexBusyError(
                f"another 'hdf-assistant index' (pid {holder}) is updating {index_dir}; "
                "try again when it has finished"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
