"""The manifest: the index's on-disk contract, as a validated model.

It records everything that decides what the stored vectors and terms mean
(model, prefixes, chunking, splitter, analyser and format versions) and what
was indexed (file hashes, pages, passage counts). It is read strictly:
corrupt JSON, an unknown key or a missing one is a :class:`IndexCorruptError`,
and an index whose vectors were made another way than the current settings
would make them is a :class:`IndexMismatchError` naming the setting; both say
which command fixes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from hdf_assistant.analysis import ANALYZER_VERSION
from hdf_assistant.errors import IndexCorruptError, IndexMismatchError
from hdf_assistant.ingest.chunking import SPLITTER_VERSION

#: 2: passages in one file per source, with their analysed terms.
#: (1: a llama-index docstore and an id map; made with splitter 2, so it is
#: rebuilt anyway.)
FORMAT_VERSION = 2
MANIFEST_FILE = "manifest.json"
REBUILD = "hdf-assistant index --full"


class FileEntry(BaseModel):
    """What the manifest remembers of one indexed file."""

    model_config = ConfigDict(extra="forbid", strict=True)

    hash: str
    pages: int
    chunks: int
    indexed_at: str
    #: pages read by OCR (scans, images)
    ocr_pages: int = 0
    #: pages that could not be read, with why ("p. 3: scanned page, not read: ...")
    notes: list[str] = []
    #: acronyms the file defines ("CNI": "carte nationale d'identité"); None: not read yet (an index
    #: made before they were kept gets them at its next refresh, nothing embedded)
    acronyms: dict[str, str] | None = None
    #: the date the file states (``YYYY-MM-DD``: PDF or DOCX metadata, a Markdown front matter's ``date:``);
    #: "" when it states none; None: not read yet (read at the next refresh, nothing embedded)
    date: str | None = None


class Manifest(BaseModel):
    """Everything needed to tell whether the index matches the settings. Never changed once made: a
    writer makes the next version's with ``model_copy(update=...)``."""

    model_config = ConfigDict(extra="forbid", strict=True, protected_namespaces=(), frozen=True)

    embed_model: str
    #: the model as loaded (with its backend); informative, not compared
    model_id: str
    dim: int
    query_prefix: str
    passage_prefix: str
    chunk_size: int
    chunk_overlap: int
    splitter_version: int
    analyzer_version: int
    format_version: int
    #: how passages are put in context for the model (0: alone, the only way now)
    passage_context: int = 0
    #: how the per-file vectors were made (chunking.DOCUMENT_VECTOR_VERSION; 0: none)
    document_vectors: int = 0
    built_at: str = ""
    #: next FAISS id to hand out (ids are never reused)
    next_id: int = 0
    #: size of the index when the IVF quantizer was trained (0: no IVF index)
    ann_trained_on: int = 0
    files: dict[str, FileEntry] = {}
    #: corpus files the last refresh could not index at all, and why
    skipped: dict[str, str] = {}

    @property
    def chunk_count(self) -> int:
        """Passages of all indexed files."""
        return sum(entry.chunks for entry in self.files.values())

    def to_json(self) -> str:
        return self.model_dump_json(indent=1)


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def parse_manifest(text: str | bytes, where: str) -> Manifest:
    """The manifest in ``text`` (read from ``where``), or IndexCorruptError."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"{where} is not valid JSON ({exc}); rebuild the index with: {REBUILD}") from exc
    if not isinstance(data, dict):
        raise IndexCorruptError(f"{where} is not an hdf-assistant manifest (not a JSON object); "
                                f"rebuild the index with: {REBUILD}")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise IndexCorruptError(f"{where} is not an hdf-assistant manifest ({_problems(exc)}); "
                                f"rebuild the index with: {REBUILD}") from exc
    if manifest.format_version != FORMAT_VERSION:
        raise IndexMismatchError(f"{where} has index format {manifest.format_version}, which this version of "
                                 f"hdf-assistant does not read (it reads format {FORMAT_VERSION}); "
                                 f"rebuild it with: {REBUILD}")
    return manifest


def _problems(exc: ValidationError, limit: int = 3) -> str:
    """The first validation errors, in one line: 'unknown key name; missing key dim'."""
    words = {"extra_forbidden": "unknown key", "missing": "missing key"}
    found = []
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")  # unknown keys first
    for error in errors[:limit]:
        key = ".".join(str(part) for part in error["loc"])
        found.append(f"{words.get(error['type'], 'bad value for')} {key}")
    more = exc.error_count() - limit
    return "; ".join(found) + (f"; and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class IndexSpec:
    """How an index's passages and vectors are made, as the settings give it: what a manifest records
    and what an index must match to be used (built from the settings by ``assistant.index_spec``)."""

    embed_model: str
    query_prefix: str
    passage_prefix: str
    chunk_size: int
    chunk_overlap: int


def new_manifest(spec: IndexSpec, model_id: str, dim: int) -> Manifest:
    """The manifest of an empty index built as ``spec`` says."""
    return Manifest(
        embed_model=spec.embed_model,
        model_id=model_id,
        dim=dim,
        query_prefix=spec.query_prefix,
        passage_prefix=spec.passage_prefix,
        chunk_size=spec.chunk_size,
        chunk_overlap=spec.chunk_overlap,
        splitter_version=SPLITTER_VERSION,
        analyzer_version=ANALYZER_VERSION,
        format_version=FORMAT_VERSION,
    )


def _expected(spec: IndexSpec) -> dict[str, tuple[Any, str]]:
    """Each manifest field that must match: (value now, where the value comes from)."""
    this_version = "this version of hdf-assistant"
    return {
        "embed_model": (spec.embed_model, "HDF_EMBED_MODEL / embed_model"),
        "query_prefix": (spec.query_prefix, "HDF_QUERY_PREFIX / query_prefix"),
        "passage_prefix": (spec.passage_prefix, "HDF_PASSAGE_PREFIX / passage_prefix"),
        "chunk_size": (spec.chunk_size, "HDF_CHUNK_SIZE / chunk_size"),
        "chunk_overlap": (spec.chunk_overlap, "HDF_CHUNK_OVERLAP / chunk_overlap"),
        "splitter_version": (SPLITTER_VERSION, this_version),
        "analyzer_version": (ANALYZER_VERSION, this_version),
        "passage_context": (0, this_version),
    }


def check_compatible(manifest: Manifest, spec: IndexSpec) -> None:
    """Raise :class:`IndexMismatchError` naming the first setting whose value
    differs from the one the index was built with."""
    for name, (value, origin) in _expected(spec).items():
        found = getattr(manifest, name)
        if found != value:
            raise IndexMismatchError(
                f"the index was built with {name}={found!r} but {origin} gives {name}={value!r}; "
                f"rebuild it with: {REBUILD}"
            )
