"""Watch the corpus and refresh the index shortly after files change.

Polling (no extra dependency): every ``interval`` seconds the names, sizes
and modification times of the corpus files are compared with the previous
look; a refresh runs once nothing has changed for ``debounce`` seconds, so
copying ten files triggers one refresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hdf_assistant.ingest.reader import discover

log = logging.getLogger(__name__)

Snapshot = dict[str, tuple[int, int]]


def snapshot(corpus_dir: Path) -> Snapshot:
    """Name -> (size, mtime) of every supported corpus file."""
    state: Snapshot = {}
    for path in discover(corpus_dir):
        try:
            st = path.stat()
        except OSError:
            continue
        state[path.relative_to(corpus_dir).as_posix()] = (st.st_size, st.st_mtime_ns)
    return state


def watch_corpus(
    corpus_dir: Path,
    on_change: Callable[[], None],
    stop: threading.Event,
    interval: float = 1.0,
    debounce: float = 2.0,
) -> None:
    """Call ``on_change`` after each burst of changes, until ``stop`` is set."""
    last = snapshot(corpus_dir)
    changed_at: float | None = None
    while not stop.wait(interval):
        current = snapshot(corpus_dir)
        if current != last:
            last = current
            changed_at = time.monotonic()
            continue
        if changed_at is not None and time.monotonic() - changed_at >= debounce:
            changed_at = None
            try:
                on_change()
            except Exception:  # keep watching whatever one refresh did
                log.exception("event=watch_refresh_failed")


def start_watching(corpus_dir: Path, on_change: Callable[[], None], interval: float = 1.0,
                   debounce: float = 2.0) -> threading.Event:
    """Watch in a background thread; set the returned event to stop."""
    stop = threading.Event()
    thread = threading.Thread(target=watch_corpus, args=(corpus_dir, on_change, stop, interval, debounce),
                              daemon=True, name="corpus-watch")
    thread.start()
    return stop
