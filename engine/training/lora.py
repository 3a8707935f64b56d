"""The adapter a LoRA/QLoRA job trains, built once for every training stage (sft, dpo, …)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..spec import JobSpec
from .loading import model_type
from .vision import lora_targets


def lora_config(spec: JobSpec, base: Path) -> Any:
    """peft's LoraConfig for this job and base model, or None when the job trains every weight."""
    t = spec.train
    if t.method not in ("lora", "qlora"):
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=t.lora.r,
        lora_alpha=t.lora.alpha,
        lora_dropout=t.lora.dropout,
        target_modules=lora_targets(t.lora.target_modules, base, model_type(base)),  # VLM: language model only
        task_type="CAUSAL_LM",
    )
