from pathlib import Path

import pytest

from hdf_assistant.ingest.uploads import UploadRejected, corpus_file, safe_file_name, save_upload


@pytest.mark.parametrize(("name", "safe"), [
    ("rapport.PDF", "rapport.pdf"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("C:\\Users\\x\\notes.md", "notes.md"),
    ("chiffres clés 2021.pdf", "chiffres clés 2021.pdf"),
    ("a;rm -rf;.txt", "a_rm -rf_.txt"),
])
def test_safe_names(name: str, safe: str) -> None:
    assert safe_file_name(name) == safe


@pytest.mark.parametrize("name", ["..", ".env", "/", "virus.exe", "archive.tar.gz", "noext", ".txt"])
def test_rejected_names(name: str) -> None:
    with pytest.raises(UploadRejected):
        safe_file_name(name)


def test_save_refuses_overwrite_size_and_empty(tmp_path: Path) -> None:
    saved = save_upload(tmp_path, "../a.txt", b"bonjour")
    assert saved == tmp_path / "a.txt" and saved.read_bytes() == b"bonjour"
    with pytest.raises(UploadRejected, match="already exists"):
        save_upload(tmp_path, "a.txt", b"autre")
    save_upload(tmp_path, "a.txt", b"autre", replace=True)
    assert (tmp_path / "a.txt").read_bytes() == b"autre"
    with pytest.raises(UploadRejected, match="limit of 1 MB"):
        save_upload(tmp_path, "big.txt", b"x" * (1024 * 1024 + 1), max_mb=1)
    with pytest.raises(UploadRejected, match="empty"):
        save_upload(tmp_path, "vide.txt", b"")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_corpus_file_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "ok.txt").write_text("x")
    (tmp_path / "secret.txt").write_text("x")
    (tmp_path / "c" / "link.txt").symlink_to(tmp_path / "secret.txt")
    corpus = tmp_path / "c"
    assert corpus_file(corpus, "ok.txt") == (corpus / "ok.txt").resolve()
    for bad in ["../secret.txt", "link.txt", "/etc/passwd", "", ".ok.txt", "ok.txt\x00"]:
        assert corpus_file(corpus, bad) is None
