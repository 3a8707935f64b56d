"""The model registry: a curated catalogue, a generic resolver for any folder, and the builtin models.

Light API for the wizard and the CLI (no torch, no network):
    search(text) -> [ModelInfo]           catalogue entries matching every word ("qwen 7b")
    lookup(id, hub=None) -> ModelInfo?    by Hugging Face, ModelScope or builtin ID
    resolve_local(path) -> ModelInfo      from a folder's config.json and tokenizer files
    resolve(model) -> ModelInfo?          what the job's model is, when it can be known offline
    model_problems(model, stages) -> [str] why the job cannot use it (validate calls this)
    check_local_dir(path) -> [str]        why a local model folder cannot be loaded
    model_config(id) -> dict?             a config.json-shaped dict for the estimator (engine/estimate.py)
    is_vision_model(model) -> bool        whether a folder / ID / ModelInfo / job model section reads images
Downloads live in engine.registry.hubs; builtin models in engine.registry.builtin.
"""

from __future__ import annotations

from typing import Any

from .catalogue import entries, lookup, search
from .checks import check_local_dir, model_problems
from .checks import resolve as _resolve
from .info import ModelInfo
from .resolver import resolve_local
from .vision import is_vision_model

__all__ = ["ModelInfo", "check_local_dir", "entries", "is_vision_model", "lookup", "model_config", "model_problems",
           "resolve", "resolve_local", "search"]


def resolve(model: Any) -> ModelInfo | None:
    return _resolve(model)[0]


def model_config(model_id: str) -> dict[str, Any] | None:
    """What the estimator reads from config.json, from the catalogue entry's shape (no download needed)."""
    info = lookup(model_id)
    if info is None or not info.shape:
        return None
    config: dict[str, Any] = {"model_type": info.model_type, "architectures": [info.architecture], **info.shape}
    if info.context_length:
        config.setdefault("max_position_embeddings", info.context_length)
    if info.vision_b:
        config["vision_params"] = int(info.vision_b * 1e9)  # the vision tower + projector (engine.shapes counts it)
    return config
