"""The index directory's mechanics: atomic writes, the state switch, the pointer."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hdf_assistant.atomic import atomic_path, atomic_write_text
from hdf_assistant.index import state
from hdf_assistant.index.state import (
    CURRENT_FILE,
    current_state_dir,
    new_state_dir,
    publish_state,
    remove_unfinished,
)
from hdf_assistant.ingest.uploads import save_upload


def test_a_failed_write_leaves_the_old_file_and_no_leftover(tmp_path: Path) -> None:
    target = tmp_path / "settings.json"
    atomic_write_text(target, "ancien")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("à moitié", encoding="utf-8")
        raise RuntimeError("interrupted")
    assert target.read_text(encoding="utf-8") == "ancien"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.json"]
    atomic_write_text(target, "nouveau")
    assert target.read_text(encoding="utf-8") == "nouveau" and len(list(tmp_path.iterdir())) == 1


def test_a_directory_finished_first_by_another_process_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with atomic_path(target, is_dir=True) as mine:
        (mine / "weights").write_text("mine", encoding="utf-8")
        target.mkdir()  # another process got there first
        (target / "weights").write_text("theirs", encoding="utf-8")
    assert (target / "weights").read_text(encoding="utf-8") == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_uploads_are_written_whole_or_not_at_all(tmp_path: Path) -> None:
    saved = save_upload(tmp_path, "rapport.txt", b"Texte complet.")
    assert saved.read_text(encoding="utf-8") == "Texte complet." and [p.name for p in tmp_path.iterdir()] == ["rapport.txt"]


def test_publishing_switches_states_and_keeps_the_previous_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(state, "RETIRED_GRACE_S", 0.0)
    assert current_state_dir(tmp_path) is None
    names = []
    for i in range(3):
        folder = new_state_dir(tmp_path)
        (folder / "manifest.json").write_text(str(i), encoding="utf-8")
        names.append(publish_state(tmp_path, folder).name)
        assert current_state_dir(tmp_path).name == names[-1]
    # the live state and the one before it (a reader may still be loading it); older ones are gone
    assert sorted(p.name for p in tmp_path.glob("state-*")) == sorted(names[1:])
    unfinished = new_state_dir(tmp_path)
    remove_unfinished(tmp_path)
    assert not unfinished.exists() and current_state_dir(tmp_path).name == names[-1]


@pytest.mark.parametrize("pointer", ["../elsewhere", "state-missing", "", "manifest.json"])
def test_a_bad_pointer_means_no_index(tmp_path: Path, pointer: str) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "manifest.json").write_text("{}", encoding="utf-8")
    (tmp_path / CURRENT_FILE).write_text(pointer, encoding="utf-8")
    assert current_state_dir(tmp_path) is None


def test_a_replaced_state_is_kept_while_a_reader_may_answer_from_it(tmp_path: Path, monkeypatch) -> None:
    """A lean reader reads its state's files while answering: a state replaced moments ago is
    kept even when a newer one replaces its successor; once the grace has passed it goes."""
    names = []
    for i in range(3):
        folder = new_state_dir(tmp_path)
        (folder / "manifest.json").write_text(str(i), encoding="utf-8")
        names.append(publish_state(tmp_path, folder).name)
    assert sorted(p.name for p in tmp_path.glob("state-*")) == sorted(names)
    # the first state's successor went live long ago
    old = time.time() - state.RETIRED_GRACE_S - 1
    os.utime(tmp_path / names[1] / "manifest.json", (old, old))
    folder = new_state_dir(tmp_path)
    (folder / "manifest.json").write_text("3", encoding="utf-8")
    names.append(publish_state(tmp_path, folder).name)
    assert sorted(p.name for p in tmp_path.glob("state-*")) == sorted(names[1:])
