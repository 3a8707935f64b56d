"""merge: fold the adapter into the full-precision base (never into 4-bit weights) and save safetensors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..spec import JobSpec
from ..util.fs import temporary_dir
from .contract import Context, StagePlan

NAME = "merge"


def spec_slice(spec: JobSpec) -> Any:
    return {"trust_remote_code": spec.model.trust_remote_code, "precision": spec.train.precision}


def outputs(spec: JobSpec, job_dir: Path) -> list[Path]:
    return [job_dir / "merged"]


def unavailable(spec: JobSpec) -> str | None:
    return None


def plan(spec: JobSpec, ctx: Context) -> StagePlan:
    return StagePlan(NAME, "merge the adapter into the base model (safetensors)", [str(ctx.job_dir / "merged")])


def run(spec: JobSpec, ctx: Context) -> dict[str, Any]:
    from peft import PeftModel

    from ..training import quiet_libraries
    from ..training.loading import load_model, load_tokenizer

    quiet_libraries()
    base_dir = ctx.base_model_dir()
    adapter = ctx.adapter_dir()
    precision = ctx.hardware.precision(spec.train.precision)
    ctx.log(f"merging {adapter} into {base_dir} ({precision})")
    base = load_model(base_dir, spec, ctx.hardware, precision)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    tokenizer = load_tokenizer(adapter if (adapter / "tokenizer_config.json").exists() else base_dir, spec)
    with temporary_dir(ctx.job_dir / "merged") as tmp:
        merged.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    ctx.emit("progress", step=1, total=1, unit="stage")
    return {"path": str(ctx.job_dir / "merged"), "precision": precision}
