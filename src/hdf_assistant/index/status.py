"""Where each document stands: the corpus folder beside the index's manifest.

One list for every screen that shows documents (the Documents tab, the REST
API): indexed (with the pages read by OCR), indexed in part (with the pages
that could not be read), skipped (with why), not indexed yet, or removed from
the folder but still in the index until the next refresh.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hdf_assistant.index.manifest import Manifest
from hdf_assistant.ingest.reader import discover

INDEXED, PARTIAL, SKIPPED, PENDING, REMOVED = "indexed", "partial", "skipped", "pending", "removed"


@dataclass(frozen=True)
class DocumentStatus:
    name: str
    state: str
    pages: int | None = None
    passages: int | None = None
    indexed_at: str | None = None
    ocr_pages: int = 0
    #: why it was skipped, or which pages were not read
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def corpus_names(corpus_dir: Path) -> list[str]:
    """The corpus's supported files, as the index names them (relative paths)."""
    return [p.relative_to(corpus_dir).as_posix() for p in discover(corpus_dir)]


def document_statuses(manifest: Manifest, corpus_dir: Path) -> list[DocumentStatus]:
    """Every document of the folder or of the index, sorted by name."""
    on_disk = set(corpus_names(corpus_dir))
    out = []
    for name in sorted(on_disk | set(manifest.files)):
        entry = manifest.files.get(name)
        if entry is None:
            reason = manifest.skipped.get(name)
            out.append(DocumentStatus(name, SKIPPED if reason else PENDING, reasons=[reason] if reason else []))
            continue
        state = REMOVED if name not in on_disk else PARTIAL if entry.notes else INDEXED
        out.append(DocumentStatus(name, state, entry.pages, entry.chunks, entry.indexed_at, entry.ocr_pages,
                                  list(entry.notes)))
    return out
