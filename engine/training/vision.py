"""What training does differently for a vision-language model: freeze the vision side, scope LoRA to the language model.

The default (and what STACK.md measured to learn): the vision tower and the projector stay frozen,
and adapters go on the language model's projections only. Every family's vision tower reuses names
such as q_proj, so plain target names would put adapters into it; `lora_targets` turns them into a
regex over the language model (engine.registry.targets.language_only). Text models never come here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..registry.targets import language_only, vision_part
from .loading import is_vision_dir
from .targets import resolve

__all__ = ["freeze_vision", "lora_targets", "trainable_parts", "vision_part"]


def freeze_vision(model: Any, tower: bool = True, projector: bool = True) -> dict[str, int]:
    """Stop gradients into the vision tower and/or the projector; the parameters frozen, by part."""
    frozen = {"tower": 0, "projector": 0}
    wanted = {"tower": tower, "projector": projector}
    for name, param in model.named_parameters():
        part = vision_part(name)
        if part is not None and wanted[part]:
            param.requires_grad_(False)
            frozen[part] += param.numel()
    return frozen


def trainable_parts(model: Any) -> dict[str, int]:
    """Trainable parameters by part (language, tower, projector): what a test or a log line checks."""
    out = {"language": 0, "tower": 0, "projector": 0}
    for name, param in model.named_parameters():
        if param.requires_grad:
            out[vision_part(name) or "language"] += param.numel()
    return out


def lora_targets(target: str | list[str], base: Path | str, model_type: str) -> str | list[str]:
    """peft target_modules for this base: the family's names for a text model, a language-model-only
    regex for a vision-language model (so no adapter lands in the vision tower)."""
    if is_vision_dir(Path(base)):
        return language_only(target, model_type)
    return resolve(target, model_type)
