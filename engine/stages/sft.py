"""sft: supervised fine-tuning with TRL's SFTTrainer — LoRA, QLoRA (4-bit base) or every weight.

Checkpoints go to checkpoints/sft/ (complete ones only are resumed); the finished adapter (or
model) is written to sft/ in one rename. Several processes (DDP / FSDP / DeepSpeed) run through
torchrun; every rank re-enters train() below.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..context import Context, StagePlan
from ..data.lengths import approx_tokens, packed_sequences
from ..data.sft import SftData, load_sft
from ..errors import UserError
from ..files import JobFiles
from ..spec import JobSpec
from ..training import checkpoints

NAME = "sft"
WHAT = {"lora": "LoRA adapter", "qlora": "QLoRA adapter on a 4-bit base", "full": "full fine-tune"}


def spec_slice(spec: JobSpec) -> Any:
    return {
        "dataset": spec.dataset.model_dump(mode="json", exclude={"preference"}),
        "train": spec.train.model_dump(mode="json"),
        "trust_remote_code": spec.model.trust_remote_code,
    }


def outputs(spec: JobSpec, job_dir: Path) -> list[Path]:
    return [JobFiles(job_dir).stage_dir(NAME)]


def current(spec: JobSpec, job_dir: Path) -> bool:
    return True


def unavailable(spec: JobSpec) -> str | None:
    return None


def steps_for(rows: int, spec: JobSpec, world: int, epochs: float, max_steps: int | None) -> int:
    """Optimiser steps the Trainer will take (its own arithmetic: batches per rank // accumulation)."""
    if max_steps:
        return max_steps
    batches = math.ceil(math.ceil(rows / world) / spec.train.batch_size)
    return max(1, math.ceil(epochs * max(1, batches // spec.train.grad_accum)))


def _sequences(spec: JobSpec, ctx: Context, data: SftData) -> tuple[int, str]:
    """Sequences per epoch: the rows, or, with packing on, about how many packed sequences they fill."""
    from ..training.options import packing

    if data.images or not packing(spec, ctx.hardware):
        return len(data.train), ""
    rows = [r["messages"] if isinstance(r, dict) else r for r in data.train]
    n = packed_sequences((approx_tokens(r) for r in rows), spec.train.max_length)
    return n, f" (packed: about {n} sequences of up to {spec.train.max_length} tokens)"


def plan(spec: JobSpec, ctx: Context) -> StagePlan:
    from ..training import launch

    data = load_sft(spec)  # validates every row now: bad data fails at plan time, not an hour in
    notes = launch.problems(spec, ctx.hardware)
    layout = None if notes else launch.resolve(spec, ctx.hardware, ctx.job_dir)
    world = layout.world if layout else 1
    sequences, packed = _sequences(spec, ctx, data)
    steps = steps_for(sequences, spec, world, spec.train.epochs, spec.train.max_steps)
    return StagePlan(
        NAME,
        f"{WHAT[spec.train.method]} on {len(data.train)} rows ({data.format}) from {data.source}, {steps} steps"
        f"{packed}, {layout.describe() if layout else 'not runnable here'}",
        [str(ctx.files.stage_dir(NAME))],
        estimate={"rows": len(data.train), "val_rows": len(data.val), "steps": steps, "processes": world},
        notes=notes,
    )


def run(spec: JobSpec, ctx: Context) -> dict[str, Any]:
    from ..training.execute import execute

    data = load_sft(spec)  # before any model loads or process starts
    ctx.log(f"dataset {data.source}: {len(data.train)} training rows, {len(data.val)} held out, format {data.format}")
    base = ctx.base_model_dir()
    folder = ctx.files.checkpoints(NAME)
    checkpoints.prepare(folder, ctx.state.stage(NAME).get("key", ""), ctx.log)
    result = execute(spec, ctx, NAME, {"base": str(base), "checkpoints": str(folder)}, train)
    checkpoints.clear(folder)
    ctx.log(f"sft finished: {result['steps']} steps, train loss {result['train_loss']:.4f}")
    return {"path": str(ctx.files.stage_dir(NAME)), "base": str(base), "method": spec.train.method, **result}


def train(spec: JobSpec, ctx: Context, layout: Any, prep: dict[str, Any]) -> dict[str, Any]:
    """Every rank runs this: load, build the SFTTrainer, fit, save (rank 0 writes)."""
    data = load_sft(spec)
    from ..training.loading import is_vision_dir

    if is_vision_dir(Path(prep["base"])):  # processor, image rows, frozen vision parts: engine.training.vision_sft
        from ..training.vision_sft import train_sft

        return train_sft(spec, ctx, layout, prep, data, NAME)

    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from ..training import quiet_libraries, speed
    from ..training.args import precision_for, training_kwargs
    from ..training.fit import fit
    from ..training.loading import load_model, load_tokenizer
    from ..training.lora import lora_config
    from ..training.template import require_chat_template, training_template

    quiet_libraries()
    base = Path(prep["base"])
    t = spec.train
    precision = precision_for(spec, ctx.hardware)
    tokenizer = load_tokenizer(base, spec)
    original = require_chat_template(tokenizer, base)
    assistant_only = False
    if t.assistant_only_loss:
        marked, how = training_template(tokenizer)
        if marked is not None:
            tokenizer.chat_template = marked
            assistant_only = True
            ctx.log(f"loss on assistant turns only, using {how}")
        else:
            ctx.log(f"{how}: training on whole conversations (prompts too)", level="warning")
    config = SFTConfig(
        **training_kwargs(spec, ctx, layout, output_dir=Path(prep["checkpoints"]), learning_rate=t.learning_rate,
                          epochs=t.epochs, max_steps=t.max_steps, has_eval=bool(data.val), precision=precision),
        assistant_only_loss=assistant_only,
        **speed.sft_kwargs(spec, ctx.hardware),
    )
    quantization = spec.quantization()
    model = load_model(base, spec, ctx.hardware, precision, quantization,
                       sharded=layout.strategy in ("fsdp", "deepspeed-zero3"))
    peft_config = lora_config(spec, base)
    if quantization != "none":
        ctx.log(f"base loaded {quantization} with bitsandbytes; the adapter trains in higher precision")
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_dict({"messages": data.train}),
        eval_dataset=Dataset.from_dict({"messages": data.val}) if data.val else None,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    _check_kept(trainer, len(data.train), spec, ctx)
    speed.tune(trainer, spec, ctx, rows=t.batch_size, outputs=speed.SFT_OUTPUTS)
    return fit(trainer, ctx, layout, folder=Path(prep["checkpoints"]), final=ctx.files.stage_dir(NAME),
               tokenizer=tokenizer, template=original, has_eval=bool(data.val))


def _check_kept(trainer: Any, rows: int, spec: JobSpec, ctx: Context) -> None:
    """TRL drops rows whose answers max_length cut off entirely; say so, and stop if none are left."""
    kept = len(trainer.train_dataset)
    if kept == 0:
        raise UserError(
            f"train.max_length: at {spec.train.max_length} tokens every training row is cut before its answer "
            "(the prompt and chat template fill it); raise train.max_length"
        )
    if kept < rows:
        ctx.log(f"{rows - kept} of {rows} rows had their answer cut off by train.max_length "
                f"({spec.train.max_length}) and are skipped", level="warning")
