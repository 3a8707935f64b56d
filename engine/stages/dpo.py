"""dpo: preference training (DPO / KTO) — arrives with the training issue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..spec import JobSpec
from .contract import Context, StagePlan

NAME = "dpo"


def spec_slice(spec: JobSpec) -> Any:
    return {
        "dataset": spec.dataset.model_dump(mode="json"),
        "train": spec.train.model_dump(mode="json"),
        "dpo": spec.dpo.model_dump(mode="json"),
    }


def outputs(spec: JobSpec, job_dir: Path) -> list[Path]:
    return [job_dir / "dpo"]


def unavailable(spec: JobSpec) -> str | None:
    return "preference training (DPO/KTO) is not in this version yet"


def plan(spec: JobSpec, ctx: Context) -> StagePlan:
    return StagePlan(NAME, "not available yet", [str(ctx.job_dir / "dpo")])


def run(spec: JobSpec, ctx: Context) -> dict[str, Any]:
    raise NotImplementedError("dpo stage")
