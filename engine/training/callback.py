"""A transformers TrainerCallback that turns the Trainer's logs into events.jsonl lines."""

from __future__ import annotations

import time
from typing import Any

from transformers import TrainerCallback

from ..context import Context

METRIC_KEYS = {
    "loss": "loss",
    "learning_rate": "lr",
    "grad_norm": "grad_norm",
    "eval_loss": "eval_loss",
    "rewards/margins": "reward_margin",
    "rewards/accuracies": "reward_accuracy",
    "rewards/chosen": "reward_chosen",
    "rewards/rejected": "reward_rejected",
    "eval_rewards/margins": "eval_reward_margin",
    "eval_rewards/accuracies": "eval_reward_accuracy",
    "kl": "kl",
    "train_loss": "train_loss",
    "num_tokens": "tokens",
}


class EventCallback(TrainerCallback):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.started = time.time()
        self.first_step_at: float | None = None
        self.start_step = 0
        self.last_tokens: tuple[float, float] | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.start_step = state.global_step
        self.started = time.time()
        if state.global_step:
            self.ctx.log(f"resumed from checkpoint at step {state.global_step} of {state.max_steps}")

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        now = time.time()
        if self.first_step_at is None:
            self.first_step_at = now
            self.ctx.emit("metric", step=state.global_step, first_step_s=round(now - self.started, 3))
        done = state.global_step - self.start_step
        rate = done / max(now - self.started, 1e-9)
        left = state.max_steps - state.global_step
        self.ctx.emit(
            "progress",
            step=state.global_step,
            total=state.max_steps,
            unit="step",
            eta_s=round(left / rate, 1) if rate > 0 else None,
        )

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
        if not logs:
            return
        metrics = {out: logs[key] for key, out in METRIC_KEYS.items() if key in logs}
        if "num_tokens" in logs:
            now = time.time()
            if self.last_tokens is not None and now > self.last_tokens[1]:
                metrics["tokens_per_s"] = round((logs["num_tokens"] - self.last_tokens[0]) / (now - self.last_tokens[1]), 1)
            self.last_tokens = (logs["num_tokens"], now)
        metrics.update(_device_memory())
        if metrics:
            self.ctx.emit("metric", step=state.global_step, epoch=round(state.epoch or 0, 3), **metrics)


def _device_memory() -> dict[str, Any]:
    import torch

    if not torch.cuda.is_available():
        return {}
    gb = 1024**3
    return {
        "memory_gb": [round(torch.cuda.memory_allocated(i) / gb, 2) for i in range(torch.cuda.device_count())],
        "peak_memory_gb": [round(torch.cuda.max_memory_allocated(i) / gb, 2) for i in range(torch.cuda.device_count())],
    }
