"""Which checkpoints a resume may trust: only marked, readable ones made under the same settings."""

from __future__ import annotations

import json
from pathlib import Path

from engine.training import checkpoints


def make(folder: Path, step: int, *, marked: bool = True, state_step: int | None = None) -> Path:
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "adapter_model.safetensors").write_bytes(b"x" * 16)
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step if state_step is None else state_step}))
    if marked:
        (path / checkpoints.MARKER).write_text(f"{step}\n")
    return path


def test_an_unmarked_or_inconsistent_checkpoint_is_deleted_and_the_newest_complete_one_kept(tmp_path: Path):
    folder = tmp_path / "checkpoints" / "sft"
    folder.mkdir(parents=True)
    (folder / checkpoints.KEY_FILE).write_text("k1")
    make(folder, 4)
    make(folder, 8)
    make(folder, 12, marked=False)  # killed while saving
    make(folder, 16, state_step=12)  # a marker but someone else's state
    (folder / "checkpoint-20").mkdir()  # killed right after mkdir
    said: list[str] = []
    newest = checkpoints.prepare(folder, "k1", said.append)
    assert newest == folder / "checkpoint-8"
    assert [p.name for p in checkpoints.listed(folder)] == ["checkpoint-4", "checkpoint-8"]
    assert sum("incomplete" in line for line in said) == 3
    assert checkpoints.latest(folder) == newest


def test_checkpoints_made_with_other_settings_are_not_resumed(tmp_path: Path):
    folder = tmp_path / "checkpoints" / "sft"
    make(folder, 4)
    (folder / checkpoints.KEY_FILE).write_text("old")
    said: list[str] = []
    assert checkpoints.prepare(folder, "new", said.append) is None
    assert checkpoints.listed(folder) == [] and (folder / checkpoints.KEY_FILE).read_text() == "new"
    assert any("other settings" in line for line in said)


def test_steps_sort_numerically_not_by_name(tmp_path: Path):
    for step in (100, 20, 3):
        make(tmp_path, step)
    assert [checkpoints.step_of(p) for p in checkpoints.listed(tmp_path)] == [3, 20, 100]
    assert checkpoints.latest(tmp_path) == tmp_path / "checkpoint-100"


def test_the_save_callback_marks_then_keeps_only_the_newest(tmp_path: Path):
    from types import SimpleNamespace

    callback = checkpoints.callback(tmp_path, keep=2)
    for step in (2, 4, 6):
        make(tmp_path, step, marked=False)
        callback.on_save(SimpleNamespace(should_save=True), SimpleNamespace(global_step=step), None)
    assert [p.name for p in checkpoints.listed(tmp_path)] == ["checkpoint-4", "checkpoint-6"]
    assert all(checkpoints.is_complete(p) for p in checkpoints.listed(tmp_path))
