"""Train with resume, evaluate, and write the finished result in one rename — on every rank alike.

All ranks call the same functions (FSDP and ZeRO-3 gather weights collectively when saving);
only rank 0 writes files.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from ..context import Context
from ..util.fs import TMP_MARK, replace_dir
from . import checkpoints, loss_plot, tracking
from .callback import EventCallback
from .launch import Layout


def fit(
    trainer: Any,
    ctx: Context,
    layout: Layout,
    *,
    folder: Path,
    final: Path,
    tokenizer: Any,
    template: str | None,
    has_eval: bool,
) -> dict[str, Any]:
    """Run `trainer` from the newest complete checkpoint in `folder`; save to `final`; return metrics.

    template: the chat template to save with the result (the original, not a training copy).
    """
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(EventCallback(ctx))
    trainer.add_callback(checkpoints.callback(folder, ctx.spec.train.save_total_limit))
    tracking.attach(trainer, ctx)
    last = checkpoints.latest(folder)
    if last is not None:
        ctx.log(f"resuming from {last.name}: weights, optimizer, scheduler, RNG and data position restored")
    result = trainer.train(resume_from_checkpoint=str(last) if last else None)
    metrics: dict[str, Any] = {
        "train_loss": result.training_loss,
        "steps": result.global_step,
        "resumed_from_step": checkpoints.step_of(last) if last else 0,
        "processes": layout.world,
    }
    if has_eval:
        logged = [h for h in trainer.state.log_history if "eval_loss" in h and h.get("step") == result.global_step]
        metrics["eval_loss"] = logged[-1]["eval_loss"] if logged else trainer.evaluate()["eval_loss"]
    save_final(trainer, final, tokenizer, template)
    if layout.world > 1:
        _report_rank(trainer, result.global_step)
    return metrics


def save_final(trainer: Any, final: Path, tokenizer: Any, template: str | None) -> None:
    """Write the adapter / model and tokenizer to a temp folder, then rename it over `final`."""
    tmp = final.with_name(f"{final.name}{TMP_MARK}train")
    main = trainer.args.should_save  # rank 0 of this machine (of every machine in a multi-node run)
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))
    trainer.accelerator.wait_for_everyone()
    if main:
        if template is not None:
            tokenizer.chat_template = template
        tokenizer.save_pretrained(str(tmp))
        loss_plot.write(trainer.state.log_history, tmp, f"{final.name}: loss by step")
        replace_dir(tmp, final)
    trainer.accelerator.wait_for_everyone()


def _report_rank(trainer: Any, steps: int) -> None:
    """One line per rank in the stage log: proof that every rank trained, and (DDP) in step."""
    import torch.distributed as dist

    rank = dist.get_rank() if dist.is_initialized() else 0
    world = dist.get_world_size() if dist.is_initialized() else 1
    model = trainer.accelerator.unwrap_model(trainer.model)
    total = sum(float(p.detach().float().sum()) for p in model.parameters() if p.requires_grad)
    print(f"rank {rank} of {world}: {steps} steps, trained-weights checksum {total:.6f}", file=sys.stderr, flush=True)
