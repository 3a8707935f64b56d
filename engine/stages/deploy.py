"""deploy: serve the model as an OpenAI-compatible API — arrives with the deploy issue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..spec import JobSpec
from .contract import Context, StagePlan

NAME = "deploy"


def spec_slice(spec: JobSpec) -> Any:
    return spec.deploy.model_dump(mode="json")


def outputs(spec: JobSpec, job_dir: Path) -> list[Path]:
    return [job_dir / "serve.json"]


def unavailable(spec: JobSpec) -> str | None:
    return "serving is not in this version yet"


def plan(spec: JobSpec, ctx: Context) -> StagePlan:
    return StagePlan(NAME, "not available yet", [str(ctx.job_dir / "serve.json")])


def run(spec: JobSpec, ctx: Context) -> dict[str, Any]:
    raise NotImplementedError("deploy stage")
