"""What every stage module exposes, and the context the pipeline hands it.

A stage module has:
    NAME: str
    spec_slice(spec) -> object         the settings that, when changed, make the stage run again
    outputs(spec, job_dir) -> [Path]   what exists when it is done
    unavailable(spec) -> str | None    why it cannot run in this install, if it cannot
    plan(spec, ctx) -> StagePlan       what it will do; fast, no heavy imports
    run(spec, ctx) -> dict             does it; the dict is recorded in state.json
    current(spec, job_dir) -> bool     optional: False when outputs exist but no longer hold (a dead server)
    train(spec, ctx, layout, prep)     training stages only: what every torchrun rank runs (run() launches it)
No base class: the contract is small and each stage stays a plain module (torchtune's recipes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..events import EventLog
from ..hardware import Hardware
from ..spec import JobSpec
from ..spec.stages import produces
from ..state import State

# Where each stage that leaves a full model puts it, relative to the job folder.
MODEL_DIRS = {"sft": "sft", "dpo": "dpo", "merge": "merged", "export": "export"}


@dataclass
class StagePlan:
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

    def emit(self, kind: str, **fields: Any) -> None:
        self.events.emit(self.stage, kind, **fields)

    def log(self, message: str, level: str = "info") -> None:
        self.emit("log", message=message, level=level)

    def earlier(self) -> list[str]:
        names = self.spec.stage_names()
        return names[: names.index(self.stage)] if self.stage in names else names

    def _done_record(self, stage: str) -> dict[str, Any]:
        record = self.state.stage(stage)
        if record.get("status") != "done":
            raise UserError(
                f"{self.stage} needs the output of {stage}, which has not finished; run the job without --only"
            )
        return record

    def base_model_dir(self) -> Path:
        """The downloaded (or local / builtin) model the job starts from."""
        return Path(self._done_record("download")["outputs"]["path"])

    def model_dir(self) -> Path:
        """The newest full model an earlier stage left (what export or deploy should take)."""
        for stage in reversed(self.earlier()):
            if stage == "download":
                return self.base_model_dir()
            if produces(stage, self.spec.train.method) == "model" and stage in MODEL_DIRS:
                self._done_record(stage)
                return self.job_dir / MODEL_DIRS[stage]
        raise UserError(f"{self.stage}: no earlier stage provides a model; add download to stages")

    def adapter_dir(self) -> Path:
        """The newest adapter an earlier stage left (what merge should fold in)."""
        for stage in reversed(self.earlier()):
            if stage in ("sft", "dpo"):
                self._done_record(stage)
                return self.job_dir / stage
        raise UserError(f"{self.stage}: no earlier sft or dpo stage left an adapter")
