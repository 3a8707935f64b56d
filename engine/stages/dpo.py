"""dpo: preference training — TRL's DPOTrainer (chosen vs rejected) or KTOTrainer (liked / disliked).

Where it starts: for task sft+dpo with LoRA/QLoRA, the SFT adapter is first merged into the
full-precision base (dpo-base/, temp then rename) and DPO trains a new adapter on that; the
reference model is the same merged model with the adapter disabled. Continuing the SFT adapter
instead is the known "DPO loss stuck" trap. After a full SFT, DPO starts from sft/; for task
dpo, from the downloaded model. The merge stage later folds the DPO adapter into that same base.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..context import Context, StagePlan
from ..data.preference import load_preference, to_unpaired
from ..errors import UserError
from ..files import JobFiles
from ..spec import JobSpec
from ..spec.methods import PREFERENCE_ALGORITHMS, PreferenceAlgorithm
from ..training import checkpoints
from ..util.fs import write_text_atomic
from .sft import steps_for

NAME = "dpo"
STAMP = "FROM_SFT_KEY"


def spec_slice(spec: JobSpec) -> Any:
    return {
        "dataset": spec.dataset.model_dump(mode="json", exclude={"sft"}),
        "train": spec.train.model_dump(mode="json"),
        "dpo": spec.dpo.model_dump(mode="json"),
        "trust_remote_code": spec.model.trust_remote_code,
    }


def merges_sft_first(spec: JobSpec) -> bool:
    names = spec.stage_names()
    return "sft" in names and "dpo" in names and spec.train.method in ("lora", "qlora")


def outputs(spec: JobSpec, job_dir: Path) -> list[Path]:
    files = JobFiles(job_dir)
    return [files.stage_dir(NAME), *([files.dpo_base] if merges_sft_first(spec) else [])]


def current(spec: JobSpec, job_dir: Path) -> bool:
    return True


def unavailable(spec: JobSpec) -> str | None:
    return None


def _start_text(spec: JobSpec) -> str:
    if merges_sft_first(spec):
        return "the SFT model (its adapter merged into the full-precision base first)"
    if "sft" in spec.stage_names():
        return "the fully fine-tuned SFT model"
    return "the downloaded model"


def plan(spec: JobSpec, ctx: Context) -> StagePlan:
    from ..training import launch

    data = load_preference(spec)  # every row checked now, before any model loads
    notes = launch.problems(spec, ctx.hardware)
    layout = None if notes else launch.resolve(spec, ctx.hardware, ctx.job_dir)
    notes += [m for m in [_batch_problem(spec)] if m]
    world = layout.world if layout else 1
    rows = len(_rows(PREFERENCE_ALGORITHMS[spec.dpo.algorithm], data.train))
    steps = steps_for(rows, spec, world, spec.dpo.epochs, spec.dpo.max_steps)
    algorithm = PREFERENCE_ALGORITHMS[spec.dpo.algorithm]
    what = algorithm.name.upper() + (f" ({spec.dpo.loss} loss)" if algorithm.takes_loss else "")
    return StagePlan(
        NAME,
        f"{what}, beta {spec.dpo.beta}, on {len(data.train)} {data.format} rows from {data.source}, {steps} steps, "
        f"starting from {_start_text(spec)}; {layout.describe() if layout else 'not runnable here'}",
        [str(p) for p in outputs(spec, ctx.job_dir)],
        estimate={"rows": len(data.train), "val_rows": len(data.val), "steps": steps, "processes": world},
        notes=notes,
    )


def _batch_problem(spec: JobSpec) -> str | None:
    algorithm = PREFERENCE_ALGORITHMS[spec.dpo.algorithm]
    if spec.train.batch_size < algorithm.min_batch:
        return (f"train.batch_size: {algorithm.name.upper()} compares each answer with the others in its batch; "
                f"use {algorithm.min_batch} or more")
    return None


def _rows(algorithm: PreferenceAlgorithm, rows: list[Any]) -> list[Any]:
    """Pairs as they are, or split into single liked / disliked answers for unpaired algorithms."""
    return rows if algorithm.paired else to_unpaired(rows)


def start_model(spec: JobSpec, ctx: Context) -> Path:
    """The full-precision model DPO trains on (and merge later folds the DPO adapter into)."""
    if "sft" not in ctx.earlier():
        return ctx.base_model_dir()
    sft_record = ctx.state.stage("sft")
    if sft_record.get("status") != "done":
        raise UserError("dpo starts from the SFT model, and sft has not finished; run the job without --only")
    if spec.train.method == "full":
        return ctx.files.stage_dir("sft")
    merged = ctx.files.dpo_base
    key = sft_record.get("key", "")
    stamp = merged / STAMP
    if stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == key:
        ctx.log(f"{merged}: the merged SFT model is up to date; reusing it")
        return merged
    from ..training import quiet_libraries
    from ..training.args import precision_for
    from ..training.merging import merge_adapter

    quiet_libraries()
    sft_base = Path(sft_record.get("outputs", {}).get("base") or ctx.base_model_dir())
    precision = precision_for(spec, ctx.hardware)
    ctx.log(f"merging the SFT adapter into {sft_base} ({precision}) → {merged}; DPO trains a new adapter on it")
    merge_adapter(sft_base, ctx.files.stage_dir("sft"), merged, spec, ctx.hardware, precision)
    write_text_atomic(stamp, key)
    return merged


def run(spec: JobSpec, ctx: Context) -> dict[str, Any]:
    from ..training.execute import execute

    data = load_preference(spec)
    ctx.log(f"preference data {data.source}: {len(data.train)} {data.format} rows, {len(data.val)} held out")
    problem = _batch_problem(spec)
    if problem:
        raise UserError(problem)
    base = start_model(spec, ctx)
    folder = ctx.files.checkpoints(NAME)
    checkpoints.prepare(folder, ctx.state.stage(NAME).get("key", ""), ctx.log)
    result = execute(spec, ctx, NAME, {"base": str(base), "checkpoints": str(folder)}, train)
    checkpoints.clear(folder)
    ctx.log(f"{spec.dpo.algorithm} finished: {result['steps']} steps, train loss {result['train_loss']:.4f}")
    return {"path": str(ctx.files.stage_dir(NAME)), "base": str(base), "algorithm": spec.dpo.algorithm,
            "method": spec.train.method, **result}


def train(spec: JobSpec, ctx: Context, layout: Any, prep: dict[str, Any]) -> dict[str, Any]:
    """Every rank runs this: load, build the DPO/KTO trainer, fit, save (rank 0 writes)."""
    data = load_preference(spec)
    from ..training.loading import is_vision_dir

    if is_vision_dir(Path(prep["base"])):  # processor and rows with images: engine.training.vision_dpo
        from ..training.vision_dpo import train_dpo

        return train_dpo(spec, ctx, layout, prep, data, NAME)

    import importlib

    from datasets import Dataset

    from ..training import quiet_libraries, speed
    from ..training.args import precision_for, training_kwargs
    from ..training.fit import fit
    from ..training.loading import load_model, load_tokenizer
    from ..training.lora import lora_config
    from ..training.template import require_chat_template

    quiet_libraries()
    base = Path(prep["base"])
    d = spec.dpo
    precision = precision_for(spec, ctx.hardware)
    tokenizer = load_tokenizer(base, spec)
    require_chat_template(tokenizer, base)
    kwargs = training_kwargs(spec, ctx, layout, output_dir=Path(prep["checkpoints"]), learning_rate=d.learning_rate,
                             epochs=d.epochs, max_steps=d.max_steps, has_eval=bool(data.val), precision=precision)
    peft_config = lora_config(spec, base)
    algorithm = PREFERENCE_ALGORITHMS[d.algorithm]
    trl_module = importlib.import_module(algorithm.trl_module)
    extra = {"loss_type": [d.loss]} if algorithm.takes_loss else {}
    trainer_cls = getattr(trl_module, algorithm.trainer)
    config = getattr(trl_module, algorithm.config)(**kwargs, beta=d.beta, **extra)
    train_rows, val_rows = _rows(algorithm, data.train), _rows(algorithm, data.val)
    # after the config: under ZeRO-3 it must exist before the weights load, so they load sharded
    model = load_model(base, spec, ctx.hardware, precision, spec.quantization(),
                       sharded=layout.strategy in ("fsdp", "deepspeed-zero3"))
    trainer = trainer_cls(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(val_rows) if val_rows else None,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    speed.tune(trainer, spec, ctx, rows=2 * spec.train.batch_size, outputs=speed.PREFERENCE_OUTPUTS)
    return fit(trainer, ctx, layout, folder=Path(prep["checkpoints"]), final=ctx.files.stage_dir(NAME),
               tokenizer=tokenizer, template=None, has_eval=bool(val_rows))
