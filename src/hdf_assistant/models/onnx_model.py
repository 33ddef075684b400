"""A sentence-transformers model run by ONNX Runtime, optionally int8.

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

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
    folder = cache_dir / "onnx" / f"{model_dir.name}-{_model_key(model_dir)}"
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


def _max_tokens(model_dir: Path) -> int:
    config = model_dir / "sentence_bert_config.json"
    if config.is_file():
        value = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
        if value:
            return int(value)
    return 512


class Tokens:
    """A tokenizer's ids for texts, whatever implements it."""

    def __init__(self, encode: Any, pad_id: int) -> None:
        self._encode = encode
        self.pad_id = pad_id

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [self._encode(t) for t in texts]


#: texts the compact tokenizer must split exactly as the model's own before it is used
_CHECK_TEXTS = [
    "", " ", "  deux  espaces\tet une tabulation\n", "La Région Hauts-de-France compte 1 791 startups.",
    "query: Combien de startups à Lille ?", "passage: L’économie numérique est très dynamique (INSEE).",
    "œuvre Œ ﬁ ligature ＡＢＣ ½ ™ … ‐–—", "x\u00a0y\u202fz", "Ça coûte 6 000€ ; 2,7% contre 3,2%.",
    "émoji 😀, 中文 测试, العربية, İstanbul, ß ẞ", "a\u0301 combinant", "mot " * 600,
]


def _compact_tokenizer(model_dir: Path, cache: Path) -> Tokens | None:
    """multilingual-e5's tokenizer (a Unigram model of 250,000 pieces) through
    sentencepiece: the same ids as ``tokenizers`` (checked on the texts above
    and, in the tests, on thousands of passages), in 55 MB instead of about
    290 MB. None when the model's tokenizer is of another kind."""
    import re
    import unicodedata

    import sentencepiece

    spm_file, rules_file = cache / "tokenizer.spm", cache / "tokenizer-normalizer.json"
    if not (spm_file.is_file() and rules_file.is_file()):
        data = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
        model, normalizer, pre = data.get("model", {}), data.get("normalizer") or {}, data.get("pre_tokenizer") or {}
        steps = normalizer.get("normalizers", []) if normalizer.get("type") == "Sequence" else []
        supported = (model.get("type") == "Unigram" and not model.get("byte_fallback")
                     and pre.get("type") == "Metaspace" and pre.get("prepend_scheme") == "always"
                     and steps and all(n["type"] in ("Replace", "NFKC") for n in steps)
                     and [t["content"] for t in data.get("added_tokens", [])][:4] == ["<s>", "<pad>", "</s>", "<unk>"])
        if not supported:
            return None
        from sentencepiece import sentencepiece_model_pb2

        pb: Any = sentencepiece_model_pb2

        proto = pb.ModelProto()
        proto.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
        proto.trainer_spec.vocab_size = len(model["vocab"])
        proto.trainer_spec.bos_id, proto.trainer_spec.pad_id, proto.trainer_spec.eos_id = 0, 1, 2
        proto.trainer_spec.unk_id = int(model.get("unk_id", 3))
        proto.normalizer_spec.name = "identity"
        proto.normalizer_spec.add_dummy_prefix = False  # prepended below, as Metaspace does
        proto.normalizer_spec.remove_extra_whitespaces = False
        kinds = {"<s>": pb.ModelProto.SentencePiece.CONTROL, "<pad>": pb.ModelProto.SentencePiece.CONTROL,
                 "</s>": pb.ModelProto.SentencePiece.CONTROL, "<unk>": pb.ModelProto.SentencePiece.UNKNOWN}
        for piece, score in model["vocab"]:
            entry = proto.pieces.add()
            entry.piece, entry.score = piece, score
            entry.type = kinds.get(piece, pb.ModelProto.SentencePiece.USER_DEFINED if piece == "<mask>"
                                   else pb.ModelProto.SentencePiece.NORMAL)
        rules = [["nfkc"] if n["type"] == "NFKC" else ["regex" if "Regex" in n["pattern"] else "string",
                                                       n["pattern"].get("Regex", n["pattern"].get("String")),
                                                       n["content"]] for n in steps]
        with atomic_path(spm_file) as part:
            part.write_bytes(proto.SerializeToString())
        with atomic_path(rules_file) as part:
            part.write_text(json.dumps(rules), encoding="utf-8")
        check = True
    else:
        check = False
    rules = json.loads(rules_file.read_text(encoding="utf-8"))
    compiled: list[tuple[str, Any, str]] = [
        (kind, re.compile(args[0]) if kind == "regex" else args[0] if args else "", args[1] if len(args) > 1 else "")
        for kind, *args in rules]
    processor = sentencepiece.SentencePieceProcessor(model_file=str(spm_file))
    limit = _max_tokens(model_dir) - 2

    def normalise(text: str) -> str:
        for kind, pattern, content in compiled:
            if kind == "nfkc":
                text = unicodedata.normalize("NFKC", text)
            elif kind == "regex":
                text = pattern.sub(content, text)
            else:
                text = text.replace(pattern, content)
        return text

    def encode(text: str) -> list[int]:
        text = normalise(text)
        if text and not text.startswith(" "):
            text = " " + text
        return [0, *processor.encode(text)[:limit], 2] if text else [0, 2]

    if check:
        reference = _fast_tokenizer(model_dir)
        if reference.ids(_CHECK_TEXTS) != [encode(t) for t in _CHECK_TEXTS]:
            log.warning("event=compact_tokenizer_mismatch model=%s: using tokenizers", model_dir)
            spm_file.unlink()
            return None
    return Tokens(encode, 1)


def _fast_tokenizer(model_dir: Path) -> Tokens:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(_max_tokens(model_dir))
    return Tokens(lambda text: tokenizer.encode(text).ids, _pad_id(tokenizer))


def load_tokenizer(model_dir: Path, cache_dir: Path | None = None) -> Tokens:
    """The model's tokenizer, loaded once and shared by the encoders: for
    multilingual-e5 a sentencepiece copy made once in ``cache_dir`` (same ids,
    a fifth of the memory), otherwise the ``tokenizers`` one."""
    if cache_dir is not None:
        folder = cache_dir / "onnx" / f"{model_dir.name}-{_model_key(model_dir)}"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            compact = _compact_tokenizer(model_dir, folder)
        except ImportError:
            compact = None
        if compact is not None:
            return compact
    return _fast_tokenizer(model_dir)


def _pad_id(tokenizer: Any) -> int:
    for token in ("<pad>", "[PAD]"):
        found = tokenizer.token_to_id(token)
        if found is not None:
            return int(found)
    return 0


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
