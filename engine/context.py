"""What the pipeline hands a stage: the job, where it lives, how to report, and what ran before.

It sits below stages/ and training/ (both use it), so neither has to import the other to get it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError
from .events import EventLog
from .files import JobFiles
from .hardware import Hardware
from .spec import JobSpec
from .spec.stages import FACTS, MODEL_FOLDERS, produces
from .state import State


@dataclass
class StagePlan:
    """What a stage will do, where it writes, and what it expects to cost (shown by `plan` and the wizard)."""

    stage: str
    summary: str
    outputs: list[str]
    estimate: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Context:
    spec: JobSpec
    job_dir: Path
    events: EventLog
    state: State
    hardware: Hardware
    stage: str = ""
    force: bool = False

    @property
    def files(self) -> JobFiles:
        return JobFiles(self.job_dir)

    def emit(self, kind: str, **fields: Any) -> None:
        self.events.emit(self.stage, kind, **fields)

    def log(self, message: str, level: str = "info") -> None:
        self.emit("log", message=message, level=level)

    def earlier(self) -> list[str]:
        names = self.spec.stage_names()
        return names[: names.index(self.stage)] if self.stage in names else names

    def done_record(self, stage: str) -> dict[str, Any]:
        record = self.state.stage(stage)
        if record.get("status") != "done":
            raise UserError(
                f"{self.stage} needs the output of {stage}, which has not finished; run the job without --only"
            )
        return record

    def base_model_dir(self) -> Path:
        """The downloaded (or local / builtin) model the job starts from."""
        return Path(self.done_record("download")["outputs"]["path"])

    def model_dir(self) -> Path:
        """The newest full model an earlier stage left (what export, eval or deploy should take)."""
        stage = model_source(self.spec, self.earlier())
        if stage is None:
            raise UserError(f"{self.stage}: no earlier stage provides a model; add download to stages")
        if stage == "download":
            return self.base_model_dir()
        self.done_record(stage)
        return self.job_dir / MODEL_FOLDERS[stage]

    def adapter_dir(self) -> Path:
        """The newest adapter an earlier stage left (what merge should fold in)."""
        for stage in reversed(self.earlier()):
            if FACTS[stage].trains and FACTS[stage].folder:
                self.done_record(stage)
                return self.files.stage_dir(stage)
        raise UserError(f"{self.stage}: no earlier sft or dpo stage left an adapter")


def model_source(spec: JobSpec, earlier: list[str]) -> str | None:
    """Which of the `earlier` stages left the newest full model ("download" for the job's own base)."""
    have: str | None = None
    source: str | None = None
    for stage in earlier:
        have = produces(stage, spec.train.method, have)
        if have == "model" and FACTS[stage].leaves != "same":
            source = stage
    return source
