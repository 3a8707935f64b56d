"""merge: fold the adapter into the full-precision base (never into 4-bit weights) and save safetensors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..context import Context, StagePlan
from ..errors import UserError
from ..files import JobFiles
from ..spec import JobSpec

NAME = "merge"


def spec_slice(spec: JobSpec) -> Any:
    return {"trust_remote_code": spec.model.trust_remote_code, "precision": spec.train.precision}


def outputs(spec: JobSpec, job_dir: Path) -> list[Path]:
    return [JobFiles(job_dir).stage_dir(NAME)]


def current(spec: JobSpec, job_dir: Path) -> bool:
    return True


def unavailable(spec: JobSpec) -> str | None:
    return None


def adapter_base(ctx: Context, adapter: Path) -> Path:
    """The full-precision model the adapter was trained on: recorded by its stage (dpo after sft
    trains on the merged SFT model, dpo-base/), else the downloaded model."""
    recorded = ctx.state.stage(adapter.name).get("outputs", {}).get("base")
    base = Path(recorded) if recorded else ctx.base_model_dir()
    if not (base / "config.json").is_file():
        raise UserError(f"merge: the base {base} that {adapter.name} was trained on is gone; run with --from {adapter.name}")
    return base


def plan(spec: JobSpec, ctx: Context) -> StagePlan:
    return StagePlan(
        NAME,
        "merge the adapter into the full-precision model it was trained on (never into 4-bit weights); safetensors",
        [str(ctx.files.stage_dir(NAME))],
    )


def run(spec: JobSpec, ctx: Context) -> dict[str, Any]:
    from ..training import quiet_libraries
    from ..training.merging import merge_adapter

    quiet_libraries()
    adapter = ctx.adapter_dir()
    base_dir = adapter_base(ctx, adapter)
    precision = ctx.hardware.precision(spec.train.precision)
    ctx.log(f"merging {adapter} into {base_dir} ({precision})")
    merge_adapter(base_dir, adapter, ctx.files.stage_dir(NAME), spec, ctx.hardware, precision)
    ctx.emit("progress", step=1, total=1, unit="stage")
    return {"path": str(ctx.files.stage_dir(NAME)), "base": str(base_dir), "adapter": str(adapter), "precision": precision}
