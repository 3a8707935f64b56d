"""sft: supervised fine-tuning with TRL's SFTTrainer (LoRA via peft, or every weight).

Checkpoints go to checkpoints/sft/ and survive a kill; the finished adapter (or model) is written
to sft/ in one rename. A checkpoint folder made under different settings is discarded, not resumed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..data.sft import load_sft
from ..errors import UserError
from ..spec import JobSpec
from ..util.fs import temporary_dir, write_text_atomic
from .contract import Context, StagePlan

NAME = "sft"


def spec_slice(spec: JobSpec) -> Any:
    return {
        "dataset": spec.dataset.model_dump(mode="json", exclude={"preference"}),
        "train": spec.train.model_dump(mode="json"),
        "trust_remote_code": spec.model.trust_remote_code,
    }


def outputs(spec: JobSpec, job_dir: Path) -> list[Path]:
    return [job_dir / "sft"]


def unavailable(spec: JobSpec) -> str | None:
    if spec.train.method == "qlora":
        return "train.method: qlora comes in a later version; use lora"
    return None


def plan(spec: JobSpec, ctx: Context) -> StagePlan:
    data = load_sft(spec)  # validates every row now: bad data fails at plan time, not an hour in
    what = "LoRA adapter" if spec.train.method == "lora" else "full fine-tune"
    steps = spec.train.max_steps or _steps(len(data.train), spec)
    return StagePlan(
        NAME,
        f"{what} on {len(data.train)} rows ({data.format}) from {data.source}, {steps} steps",
        [str(ctx.job_dir / "sft")],
        estimate={"rows": len(data.train), "val_rows": len(data.val), "steps": steps},
    )


def _steps(rows: int, spec: JobSpec) -> int:
    import math

    per_update = spec.train.batch_size * spec.train.grad_accum
    return max(1, math.ceil(math.ceil(rows / spec.train.batch_size) / spec.train.grad_accum * spec.train.epochs)) if per_update else 1


def _checkpoint_dir(ctx: Context) -> Path:
    """checkpoints/sft/, emptied first if it was made under other settings."""
    folder = ctx.job_dir / "checkpoints" / NAME
    key_file = folder / "KEY"
    key = ctx.state.stage(NAME).get("key", "")
    if folder.exists() and (not key_file.exists() or key_file.read_text().strip() != key):
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(key_file, key)
    return folder


def run(spec: JobSpec, ctx: Context) -> dict[str, Any]:
    data = load_sft(spec)
    ctx.log(f"dataset {data.source}: {len(data.train)} training rows, {len(data.val)} held out, format {data.format}")

    from datasets import Dataset
    from peft import LoraConfig
    from transformers.trainer_utils import get_last_checkpoint
    from trl import SFTConfig, SFTTrainer

    from ..training import quiet_libraries, targets
    from ..training.callback import EventCallback
    from ..training.loading import load_model, load_tokenizer, model_type

    quiet_libraries()
    base = ctx.base_model_dir()
    precision = ctx.hardware.precision(spec.train.precision)
    if precision in ("bf16", "fp16") and ctx.hardware.accelerator == "cpu" and precision == "fp16":
        raise UserError("train.precision: fp16 training needs a GPU; use auto, bf16 or fp32 on this machine")
    tokenizer = load_tokenizer(base, spec)
    template = tokenizer.chat_template or ""
    if not template:
        raise UserError(f"model.id: {base} has no chat template; pick an instruct/chat model or add one to its tokenizer")
    assistant_only = spec.train.assistant_only_loss and "generation" in template
    if spec.train.assistant_only_loss and not assistant_only:
        ctx.log("chat template has no {% generation %} markers: training on whole conversations", level="warning")

    folder = _checkpoint_dir(ctx)
    t = spec.train
    config = SFTConfig(
        output_dir=str(folder),
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.learning_rate,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps or -1,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio,  # transformers 5: a float below 1 is a ratio
        max_length=t.max_length,
        logging_steps=t.logging_steps,
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        seed=t.seed,
        data_seed=t.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=ctx.hardware.accelerator == "cpu",
        gradient_checkpointing=t.gradient_checkpointing,
        assistant_only_loss=assistant_only,
        eval_strategy="steps" if data.val else "no",
        eval_steps=max(1, t.save_steps) if data.val else None,
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        optim="adamw_torch" if t.optimizer == "adamw" else t.optimizer,
    )
    model = load_model(base, spec, ctx.hardware, "fp32" if precision == "fp32" else precision)
    peft_config = None
    if t.method == "lora":
        peft_config = LoraConfig(
            r=t.lora.r,
            lora_alpha=t.lora.alpha,
            lora_dropout=t.lora.dropout,
            target_modules=targets.resolve(t.lora.target_modules, model_type(base)),
            task_type="CAUSAL_LM",
        )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_dict({"messages": data.train}),
        eval_dataset=Dataset.from_dict({"messages": data.val}) if data.val else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[EventCallback(ctx)],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    last = get_last_checkpoint(str(folder))
    result = trainer.train(resume_from_checkpoint=last)
    metrics: dict[str, Any] = {"train_loss": result.training_loss, "steps": result.global_step}
    if data.val:
        metrics["eval_loss"] = trainer.evaluate()["eval_loss"]
    with temporary_dir(ctx.job_dir / "sft") as tmp:
        trainer.save_model(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    ctx.log(f"sft finished: {result.global_step} steps, train loss {result.training_loss:.4f}")
    return {"path": str(ctx.job_dir / "sft"), "method": t.method, **metrics}
