"""The ONNX files of a sentence-transformers model in the model cache: fp32, int8, and the question model.

The model directory (the converted multilingual-e5-small, or any
sentence-transformers directory with mean pooling) becomes one ONNX graph,
mean pooling and L2 normalisation included: for a BERT model such as
multilingual-e5-small the graph is written from its weights without PyTorch
(``onnx_graph.py``); any other architecture is exported through PyTorch, which
then must be installed (``pip install 'hdf-assistant[torch]'``). For
``onnx-int8`` the graph is quantized with ONNX Runtime's dynamic int8
quantization (weights per channel, activations per text: see
:class:`OnnxEncoder`; the VNNI instructions of these CPUs do the products).
Every matrix product with weights and the embedding tables are quantized,
minus the products a model lists in :data:`KEEP_FP32` (none now).
multilingual-e5-small's feed-forward outputs of layers 4 and 5, whose inputs
have the widest range, were kept in fp32 until issue 20: mean cosine to the
fp32 vectors 0.9988 against 0.9973 with them in int8, but with one text per run
the retrieval is the same (development set hit@1 0.853 / 0.848, 9 questions
better and 7 worse, PIAF 0.924 both) and the index builds 6 % faster
(benchmarks/README.md). The files live in the model cache, are written
atomically, and are keyed by the source model and :data:`EXPORT_VERSION`, so
nothing is downloaded and the work is done once per machine.

Why not sentence-transformers' own ``backend="onnx"``: it goes through
``optimum-onnx`` and PyTorch, while running the graph directly needs only
``onnxruntime`` and a tokenizer, and PyTorch is never installed to serve.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from pathlib import Path
from typing import Any

from hdf_assistant.atomic import atomic_path
from hdf_assistant.errors import ModelUnavailableError

log = logging.getLogger(__name__)

#: Bump when the graph changes (inputs, pooling, quantization recipe). 5: written without PyTorch
#: (same computation; the int8 vectors of the two graphs agree within int8 noise, mean cosine 0.9995).
EXPORT_VERSION = 5
#: Matrix products left in fp32 by the int8 quantization, by model (regexes on node names).
KEEP_FP32: dict[str, tuple[str, ...]] = {}
OPSET = 17


def _model_key(model_dir: Path) -> str:
    """Changes whenever the source model's files change."""
    digest = hashlib.sha1(f"{EXPORT_VERSION}|{model_dir.resolve()}".encode())
    for name in ("config.json", "tokenizer.json", "modules.json", "1_Pooling/config.json"):
        path = model_dir / name
        if path.is_file():
            digest.update(name.encode() + path.read_bytes())
    for weights in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        stat = weights.stat()
        digest.update(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


def model_folder(model_dir: Path, cache_dir: Path) -> Path:
    """Where the files made from ``model_dir`` live in the model cache (graphs, compact tokenizer)."""
    return cache_dir / "onnx" / f"{model_dir.name}-{_model_key(model_dir)}"


def _check_pooling(model_dir: Path) -> None:
    config = model_dir / "1_Pooling" / "config.json"
    if not config.is_file():
        return
    pooling = json.loads(config.read_text(encoding="utf-8"))
    if not pooling.get("pooling_mode_mean_tokens", False):
        raise ModelUnavailableError(
            f"the onnx backends support mean pooling only, and {model_dir} pools otherwise: "
            f"set embed_backend = \"torch\" (HDF_EMBED_BACKEND=torch)"
        )


def _write_fp32(model_dir: Path, target: Path) -> None:
    """The transformer + mean pooling + normalisation, as an fp32 graph in ``target``:
    written from the weights for a BERT model, exported through PyTorch otherwise."""
    from hdf_assistant.models.onnx_graph import supported, write_bert_graph

    reason = supported(model_dir)
    if reason is None:
        write_bert_graph(model_dir, target)
        return
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise ModelUnavailableError(
            f"{model_dir} is not a BERT model this project writes as ONNX by itself ({reason}); exporting it "
            f"needs PyTorch: pip install 'hdf-assistant[torch]' (or use the default model)"
        ) from exc
    _export_with_torch(model_dir, target)


def _export_with_torch(model_dir: Path, target: Path) -> None:
    """Export the transformer + mean pooling + normalisation to ``target`` through PyTorch."""
    import torch
    import transformers
    from transformers import AutoModel

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    class Pooled(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    ids = torch.tensor([[0, 10, 20, 2], [0, 30, 2, 1]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(model),
            (ids, mask),
            str(target),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def _quantize_int8(source: Path, target: Path, keep_fp32: tuple[str, ...]) -> None:
    import re

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    keep = [node.name for node in graph.node if node.op_type == "MatMul" and any(re.search(p, node.name) for p in keep_fp32)]
    if len(keep) != len(keep_fp32):
        log.warning("event=onnx_quantize_keep_fp32 expected=%d found=%d", len(keep_fp32), len(keep))

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # silence "consider pre-processing" advice
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                         nodes_to_exclude=keep)
    finally:
        root.setLevel(level)


def _quantize_embedding_table(source: Path, target: Path) -> None:
    """Only the token embedding table (the Gather) in int8: 250,000 x 384
    floats are 384 of the 470 MB of multilingual-e5-small; the matrix products
    stay fp32. Question vectors move by less than 1e-4 in cosine."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=["Gather"])
    finally:
        root.setLevel(level)


def onnx_model_file(model_dir: Path, cache_dir: Path, int8: bool, keep_fp32: tuple[str, ...] = (),
                    query: bool = False) -> Path:
    """The ONNX file of ``model_dir`` (exported, and quantized, on first use):
    fp32, int8 (``int8``), or fp32 with an int8 embedding table (``query``:
    what answers questions, a third of fp32's memory)."""
    _check_pooling(model_dir)
    folder = model_folder(model_dir, cache_dir)
    fp32 = folder / "model.onnx"
    wanted = folder / ("model-int8.onnx" if int8 else "model-query.onnx" if query else "model.onnx")
    if wanted.is_file():
        return wanted
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if not fp32.is_file():
            log.info("event=onnx_write model=%s (once per machine)", model_dir)
            with atomic_path(fp32) as part:
                _write_fp32(model_dir, part)
        if int8:
            log.info("event=onnx_quantize model=%s", model_dir)
            with atomic_path(wanted) as part:
                _quantize_int8(fp32, part, keep_fp32)
        elif query:
            log.info("event=onnx_quantize_embedding_table model=%s", model_dir)
            with atomic_path(wanted) as part:
                _quantize_embedding_table(fp32, part)
    except ImportError as exc:
        raise ModelUnavailableError(
            f"the onnx embedding backends need onnx and onnxruntime ({exc}): pip install onnx onnxruntime"
        ) from exc
    return wanted
