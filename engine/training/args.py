"""The TrainingArguments every training stage shares (SFT, DPO, KTO), from the job and the layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..context import Context
from ..errors import UserError
from ..hardware import Hardware
from ..spec import JobSpec
from . import launch, options, tracking
from .launch import Layout
from .quant import optimizer_name


def precision_for(spec: JobSpec, hw: Hardware) -> str:
    precision = hw.precision(spec.train.precision)
    if precision == "fp16" and hw.accelerator == "cpu":
        raise UserError("train.precision: fp16 training needs a GPU; use auto, bf16 or fp32 on this machine")
    if precision == "bf16" and hw.gpus and not all(g.bf16 for g in hw.gpus):
        names = ", ".join(sorted({g.name for g in hw.gpus if not g.bf16}))
        raise UserError(f"train.precision: {names} has no bf16; use auto or fp16")
    return precision


def training_kwargs(
    spec: JobSpec,
    ctx: Context,
    layout: Layout,
    *,
    output_dir: Path,
    learning_rate: float,
    epochs: float,
    max_steps: int | None,
    has_eval: bool,
    precision: str,
) -> dict[str, Any]:
    """Keyword arguments for SFTConfig / DPOConfig / KTOConfig.

    Checkpoints are rotated by our own callback (after they are marked complete), so the
    Trainer's save_total_limit stays off. Under FSDP, activation checkpointing is FSDP's own
    (set in the rendered settings), not the Trainer's, which would gather twice.
    """
    t = spec.train
    optim, note = optimizer_name(t.optimizer, ctx.hardware)
    if note and launch.rank() == 0:
        ctx.log(note)
    checkpointing = t.gradient_checkpointing and layout.strategy != "fsdp"
    kwargs: dict[str, Any] = {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": t.batch_size,
        "per_device_eval_batch_size": t.batch_size,
        "gradient_accumulation_steps": t.grad_accum,
        "learning_rate": learning_rate,
        "num_train_epochs": epochs,
        "max_steps": max_steps or -1,
        "lr_scheduler_type": t.lr_scheduler,
        "warmup_steps": t.warmup_ratio,  # transformers 5: a float below 1 is a ratio
        "max_length": t.max_length,
        "logging_steps": t.logging_steps,
        "save_strategy": "steps",
        "save_steps": t.save_steps,
        "save_total_limit": None,
        "seed": t.seed,
        "data_seed": t.seed,
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "use_cpu": ctx.hardware.accelerator == "cpu",
        "gradient_checkpointing": checkpointing,
        "gradient_checkpointing_kwargs": {"use_reentrant": False} if checkpointing else None,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": t.save_steps if has_eval else None,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "optim": optim,
    }
    if layout.nnodes > 1:
        kwargs["save_on_each_node"] = True  # each machine has its own jobs/ folder: checkpoints and result on each
    kwargs.update(tracking.report_kwargs(spec, ctx.stage))
    kwargs.update(options.common_kwargs(spec, ctx.hardware))
    kwargs.update(launch.settings(layout))
    return kwargs
