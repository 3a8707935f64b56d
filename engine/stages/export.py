"""export: AWQ 4-bit with llm-compressor, verified before it ships — arrives with the export issue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..spec import JobSpec
from .contract import Context, StagePlan

NAME = "export"


def spec_slice(spec: JobSpec) -> Any:
    return spec.export.model_dump(mode="json")


def outputs(spec: JobSpec, job_dir: Path) -> list[Path]:
    return [job_dir / "export"]


def unavailable(spec: JobSpec) -> str | None:
    return "quantised export is not in this version yet"


def plan(spec: JobSpec, ctx: Context) -> StagePlan:
    return StagePlan(NAME, "not available yet", [str(ctx.job_dir / "export")])


def run(spec: JobSpec, ctx: Context) -> dict[str, Any]:
    raise NotImplementedError("export stage")
