"""LoRA targets as training applies them; the per-family table is model knowledge in engine.registry.targets."""

from __future__ import annotations

from ..registry.targets import ATTENTION, BY_MODEL_TYPE, language_only, resolve

__all__ = ["ATTENTION", "BY_MODEL_TYPE", "language_only", "resolve"]
