from pathlib import Path

import pytest

from hdf_assistant.config import load_settings
from hdf_assistant.errors import ConfigError


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    toml = tmp_path / "s.toml"
    toml.write_text('chunk_size = 600\ntop_k = 3\ncorpus_dir = "docs"\n', encoding="utf-8")
    s = load_settings(toml, env={"HDF_TOP_K": "7"})
    assert (s.chunk_size, s.top_k, s.corpus_dir) == (600, 7, Path("docs"))
    s = load_settings(toml, env={"HDF_TOP_K": "7"}, top_k=2, index_dir=None)
    assert s.top_k == 2 and s.index_dir == Path("index")


def test_defaults_without_file_or_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={})
    assert s.embed_model == "multilingual-e5-small"
    assert (s.embed_backend, s.retriever, s.document_weight) == ("onnx-int8", "hybrid", 0.6)
    assert load_settings(env={"HDF_DOCUMENT_WEIGHT": "0"}).document_weight == 0.0
    assert (s.corpus_dir, s.index_dir) == (Path("corpus"), Path("index"))


@pytest.mark.parametrize(
    ("env", "message"),
    [({"HDF_TOP_K": "beaucoup"}, "top_k"), ({"HDF_CHUNK_SIZE": "10"}, "chunk_size"),
     ({"HDF_DOCUMENT_WEIGHT": "-0.5"}, "document_weight"), ({"HDF_DOCUMENT_WEIGHT": "nan"}, "document_weight"),
     ({"HDF_EMBED_BACKEND": "openvino"}, "embed_backend"), ({"HDF_STORE": "mysql"}, "store must be local or postgres"),
     ({"HDF_STORE": "postgres"}, "HDF_DATABASE_URL.*hdf-assistant db start"),
     ({"HDF_INDEX_NAME": "Mon Index"}, "index_name"), ({"HDF_KEYWORD_WEIGHT": "1.5"}, "keyword_weight.*0 to 1")],
)
def test_bad_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env)


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    toml = tmp_path / "s.toml"
    toml.write_text("chunk_sise = 600\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="chunk_sise"):
        load_settings(toml, env={})


def test_tests_run_in_their_own_directory_and_cache(tmp_path: Path) -> None:
    from conftest import CACHE

    assert Path.cwd() == tmp_path  # a hdf-assistant.toml in the checkout cannot leak in
    settings = load_settings(env={})
    assert settings.model_cache_dir.is_relative_to(CACHE) and settings.eval_cache_dir.is_relative_to(CACHE)
