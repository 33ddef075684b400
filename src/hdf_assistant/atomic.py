"""Atomic file writes: a reader sees the old file or the new one, never a
half-written one. Below every stage (models, ingest, index, evaluation all write
through these)."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(target: Path, is_dir: bool = False) -> Iterator[Path]:
    """A temporary path beside ``target`` (a file, or a directory when
    ``is_dir``) for the caller to fill; on success it replaces ``target`` in
    one rename, on error it is removed and ``target`` is left as it was.

    For a directory that another process created meanwhile, the existing one
    is kept (both hold the same thing: first writer wins)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    else:
        # like mkstemp, but with the usual permissions (0666 minus the umask)
        tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}"
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        try:
            os.replace(tmp, target)
        except OSError:
            if not (is_dir and target.is_dir()):
                raise
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink(missing_ok=True)


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` so that no reader sees a partial file."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: Path, text: str) -> None:
    """UTF-8 text, written atomically."""
    atomic_write_bytes(target, text.encode("utf-8"))


def link_or_copy(source: Path, target: Path) -> None:
    """Give ``target`` the content of the immutable file ``source``: a hard
    link (no copy) where the file system allows it."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
