"""Safe file names and paths for uploads and for serving corpus files.

Nothing a user types or uploads reaches outside the corpus directory: names
are reduced to a plain file name (no directories, no "..", no hidden files),
only supported extensions are accepted, sizes are limited, and an existing
file is only replaced when asked.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from hdf_assistant.atomic import atomic_write_bytes
from hdf_assistant.errors import HdfError
from hdf_assistant.ingest.reader import SUPPORTED_EXTENSIONS


class UploadRejected(HdfError):
    """An uploaded file cannot be added to the corpus; the message says why and
    ``kind`` which rule it broke: "invalid", "unsupported", "too_large", "empty", "exists"."""

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


_UNSAFE = re.compile(r"[^\w.\- ()]+")


def safe_file_name(name: str) -> str:
    """A plain, visible file name with a supported extension, or UploadRejected."""
    base = unicodedata.normalize("NFC", name.replace("\\", "/").split("/")[-1]).strip()
    base = _UNSAFE.sub("_", base).strip(" ._")
    if not base or base in {".", ".."}:
        raise UploadRejected("invalid file name")
    stem, dot, ext = base.rpartition(".")
    if not dot or f".{ext.lower()}" not in SUPPORTED_EXTENSIONS:
        raise UploadRejected(f"unsupported file type (accepted: {', '.join(SUPPORTED_EXTENSIONS)})", "unsupported")
    return f"{stem[:120]}.{ext.lower()}"


def _check_size(data: bytes, max_mb: int) -> None:
    if len(data) > max_mb * 1024 * 1024:
        raise UploadRejected(f"larger than the limit of {max_mb} MB", "too_large")
    if not data:
        raise UploadRejected("empty file", "empty")


def save_upload(corpus_dir: Path, name: str, data: bytes, replace: bool = False, max_mb: int = 50) -> Path:
    """Write an uploaded file into the corpus (atomically) and return its path."""
    _check_size(data, max_mb)
    target = corpus_dir / safe_file_name(name)
    if not target.resolve().is_relative_to(corpus_dir.resolve()):
        raise UploadRejected("invalid file name")
    if target.exists() and not replace:
        raise UploadRejected("a file with this name already exists (tick 'replace' to overwrite it)", "exists")
    atomic_write_bytes(target, data)  # the partial file is hidden (a dot name) until complete
    return target


def replace_corpus_file(corpus_dir: Path, name: str, data: bytes, max_mb: int = 50) -> Path:
    """Write a new version of the corpus file called ``name`` (a relative path,
    subfolders kept) in its place, atomically."""
    target = corpus_file(corpus_dir, name)
    if target is None:
        raise UploadRejected(f"no document '{name}' in the corpus")
    _check_size(data, max_mb)
    atomic_write_bytes(target, data)
    return target


def corpus_file(corpus_dir: Path, name: str) -> Path | None:
    """The corpus file called ``name`` (relative path), or None if that name
    leads outside the corpus, to a hidden file, or to an unsupported type."""
    if not name or "\x00" in name or Path(name).is_absolute():
        return None
    parts = Path(name).parts
    if any(part in ("..", "") or part.startswith(".") for part in parts):
        return None
    root = corpus_dir.resolve()
    path = (corpus_dir / name).resolve()
    if not path.is_relative_to(root) or not path.is_file() or path.suffix.lower() not in SUPPORTED_EXTENSIONS:
        return None
    return path
