"""What a training stage changes on a built TRL trainer so that it runs as fast as a bare loop.

One call per stage, after the trainer is built and before `fit`: the LM head (lm_head.py) is the
part TRL 1.16 makes slow where memory is not short. The TrainingArguments side (length-grouped
batches, packing, Liger, trackers) is in args.py / options.py, as it must be known before the
trainer is built.
"""

from __future__ import annotations

from typing import Any

from ..context import Context
from ..hardware import Hardware
from ..spec import JobSpec
from . import launch, lm_head, options

# The per-token fields each TRL 1.16 trainer's loss and metrics code reads from the fused head.
SFT_OUTPUTS = ("entropy", "is_top1")
PREFERENCE_OUTPUTS = ("entropy", "is_top1", "mean_logits")


def tune(trainer: Any, spec: JobSpec, ctx: Context, *, rows: int, outputs: tuple[str, ...]) -> None:
    """rows: sequences per forward pass; outputs: the per-token fields the trainer's loss code reads."""
    if getattr(trainer, "use_weighting", False):
        outputs = (*outputs, "log_sum_sq_probs")  # DPO's WPO weights
    if lm_head.apply(trainer, ctx.hardware, rows, outputs) and launch.rank() == 0:
        ctx.log("LM head: one projection over the scored positions (TRL's chunked head only pays on a GPU "
                "short of memory)")


def sft_kwargs(spec: JobSpec, hw: Hardware) -> dict[str, Any]:
    """SFTConfig keys for speed: packing or length-grouped batches (options.py)."""
    return options.sft_kwargs(spec, hw)
