"""The model's tokenizer: for multilingual-e5 a sentencepiece copy of its Unigram model (the same ids as
``tokenizers``, in a fifth of the memory), made once in the model cache and checked against the original;
for any other model, ``tokenizers`` itself."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hdf_assistant.atomic import atomic_path
from hdf_assistant.models.onnx_model import model_folder

log = logging.getLogger(__name__)


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
        folder = model_folder(model_dir, cache_dir)
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
