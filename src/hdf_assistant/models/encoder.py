"""Running an ONNX sentence encoder: tokenize, batch by length, unit vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hdf_assistant.errors import ModelUnavailableError
from hdf_assistant.models.tokenizer import Tokens, load_tokenizer


class OnnxEncoder:
    """Tokenize, batch by length, run the graph: unit vectors out.

    ``per_text`` (for int8 graphs): each text runs alone, one thread per text
    and ``threads`` texts at a time. Dynamic quantization scales activations
    by the whole input tensor, so in a batch a text's vector would depend on
    its neighbours (and their padding); alone, a file's vectors are the same
    whatever else is indexed with it, at the same speed as batches.
    """

    def __init__(self, model_file: Path, model_dir: Path, threads: int, per_text: bool = False,
                 tokenizer: Any = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelUnavailableError(f"onnxruntime is not installed ({exc}): pip install onnxruntime") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1 if per_text else threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self._tokenizer: Tokens = tokenizer if tokenizer is not None else load_tokenizer(model_dir)
        self._pad = self._tokenizer.pad_id
        self.dim = int(self._session.get_outputs()[0].shape[-1])
        self._per_text = per_text
        self._threads = threads
        self._pool: Any = None

    def _encode_each(self, texts: Sequence[str]) -> np.ndarray:
        from concurrent.futures import ThreadPoolExecutor

        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="hdf-embed")

        def one(text: str) -> np.ndarray:
            ids = np.asarray(self._tokenizer.ids([text]), dtype=np.int64)
            return self._session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]

        return np.vstack(list(self._pool.map(one, texts)))

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Unit vectors of ``texts``; texts of similar length share a batch."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        if self._per_text:
            return self._encode_each(texts)
        encodings = self._tokenizer.ids(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encodings[i]) for i in rows)
            ids = np.full((len(rows), width), self._pad, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for j, i in enumerate(rows):
                n = len(encodings[i])
                ids[j, :n] = encodings[i]
                mask[j, :n] = 1
            out[rows] = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return out
