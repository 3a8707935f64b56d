"""Experiment trackers (train.report_to): the Trainer's own integrations, pointed at the job folder.

tensorboard writes under jobs/<name>/runs/<stage>/ (not the checkpoints folder, which is cleared
when a stage ends); swanlab and wandb use their own settings and need their package installed.
A missing package is one UserError line that says how to install it, before any model loads.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from ..context import Context
from ..errors import UserError
from ..files import JobFiles
from ..spec import JobSpec

PACKAGES = {"tensorboard": ("tensorboard", "tensorboard"), "swanlab": ("swanlab", "swanlab"), "wandb": ("wandb", "wandb")}


def report_kwargs(spec: JobSpec, stage: str) -> dict[str, Any]:
    """report_to / run_name for the trainer's config; UserError when the tracker's package is missing."""
    tracker = spec.train.report_to
    if tracker == "none":
        return {"report_to": []}
    module, package = PACKAGES[tracker]
    if importlib.util.find_spec(module) is None:
        raise UserError(f"train.report_to: {tracker} needs the {package} package; install it: "
                        f".venv/bin/python -m pip install {package} (or set train.report_to: none)")
    return {"report_to": [tracker], "run_name": f"{spec.name}-{stage}"}


def attach(trainer: Any, ctx: Context) -> None:
    """Point the TensorBoard callback (if the job uses it) at jobs/<name>/runs/<stage>/."""
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback):
            folder = JobFiles(ctx.job_dir).runs / (ctx.stage or "train")
            folder.mkdir(parents=True, exist_ok=True)
            callback.logging_dir = str(folder)
