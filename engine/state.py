"""state.json: what each stage of a job did, written atomically after every change.

A SIGKILL at any moment leaves either the previous or the next version of the file, never half
of one, so the next `run` can always read it and resume.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from .errors import UserError
from .files import STATE_FILE
from .util.fs import write_json_atomic


def stage_key(stage: str, slice_: Any, upstream: str) -> str:
    """Hash of a stage's own settings and the key of the stage before it: a change reruns it and all after."""
    blob = json.dumps({"stage": stage, "spec": slice_, "upstream": upstream}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class State:
    def __init__(self, job_dir: Path, data: dict[str, Any] | None = None) -> None:
        self.job_dir = job_dir
        self.data: dict[str, Any] = data or {"version": 1, "stages": {}}

    @classmethod
    def load(cls, job_dir: Path) -> State:
        path = job_dir / STATE_FILE
        if not path.exists():
            return cls(job_dir)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}: unreadable ({exc}); delete it or run with --fresh") from None
        if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
            raise UserError(f"{path}: not a state file of this tool; delete it or run with --fresh")
        return cls(job_dir, data)

    def save(self) -> None:
        self.data["updated"] = round(time.time(), 3)
        write_json_atomic(self.job_dir / STATE_FILE, self.data)

    def stage(self, name: str) -> dict[str, Any]:
        return self.data["stages"].get(name, {})

    def update(self, name: str, **fields: Any) -> None:
        record = self.data["stages"].setdefault(name, {})
        record.update(fields)
        self.save()

    def reset(self, name: str) -> None:
        self.data["stages"].pop(name, None)
        self.save()
