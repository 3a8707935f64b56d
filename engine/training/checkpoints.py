"""Resumable checkpoints that are never trusted half-written.

transformers writes checkpoint-N/ in place, file by file (weights, optimizer, scheduler, RNG,
trainer_state.json); a SIGKILL in the middle leaves a folder that `get_last_checkpoint` would
happily pick. So a checkpoint counts only once a COMPLETE marker is in it, written (after every
rank has finished its files, and after an fsync) by the callback below. Rotation ("keep the
newest N") is done here too, after the marker, so a kill never leaves fewer complete
checkpoints than before the save began. Anything unmarked is deleted before training resumes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..util.fs import write_text_atomic

MARKER = "COMPLETE"
KEY_FILE = "KEY"
NAME = re.compile(r"^checkpoint-(\d+)$")


def step_of(path: Path) -> int:
    match = NAME.match(path.name)
    return int(match.group(1)) if match else -1


def listed(folder: Path) -> list[Path]:
    """checkpoint-N folders, oldest step first."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir() and NAME.match(p.name)), key=step_of)


def is_complete(path: Path) -> bool:
    """Marker present and trainer_state.json readable and at the folder's step."""
    if not (path / MARKER).is_file():
        return False
    try:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return state.get("global_step") == step_of(path)


def prepare(folder: Path, key: str, log: Callable[[str], None]) -> Path | None:
    """Ready checkpoints/<stage>/ for a run: wipe it if made under other settings, drop broken
    checkpoints, and return the newest complete one (None: start from step 0). Parent process only.
    """
    key_file = folder / KEY_FILE
    if folder.exists() and (not key_file.exists() or key_file.read_text(encoding="utf-8").strip() != key):
        if listed(folder):
            log(f"{folder}: checkpoints were made with other settings; starting this stage from step 0")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(key_file, key)
    newest = None
    for path in listed(folder):
        if is_complete(path):
            newest = path
        else:
            log(f"{path.name}: incomplete (the run stopped while saving it); deleted")
            shutil.rmtree(path, ignore_errors=True)
    return newest


def latest(folder: Path) -> Path | None:
    """The newest complete checkpoint (read-only: every rank may call it)."""
    done = [p for p in listed(folder) if is_complete(p)]
    return done[-1] if done else None


def clear(folder: Path) -> None:
    """A finished stage needs no checkpoints; a rerun must not resume from the end of the last one."""
    shutil.rmtree(folder, ignore_errors=True)


def _fsync_tree(path: Path) -> None:
    for file in path.rglob("*"):
        if file.is_file():
            fd = os.open(file, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def callback(folder: Path, keep: int) -> Any:
    """A TrainerCallback that marks each saved checkpoint complete, then keeps the newest `keep`."""
    from transformers import TrainerCallback

    class CompleteCheckpoints(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            _barrier()  # every rank has written its files (RNG state is per rank)
            if args.should_save:  # rank 0 of this machine
                path = folder / f"checkpoint-{state.global_step}"
                if path.is_dir():
                    _fsync_tree(path)
                    write_text_atomic(path / MARKER, f"{state.global_step}\n")
                done = [p for p in listed(folder) if is_complete(p)]
                for old in done[:-keep]:
                    shutil.rmtree(old, ignore_errors=True)
            _barrier()

    return CompleteCheckpoints()
