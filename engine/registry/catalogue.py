"""Load catalogue.yaml into ModelInfo records, and find models in it by ID or by words.

Families carry defaults that their models inherit (a model's `shape` keys are merged over the
family's), so the data file stays short. Loaded once per process and cached.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml

from .info import ModelInfo

CATALOGUE = Path(__file__).resolve().parent / "catalogue.yaml"
FAMILY_KEYS = {
    "architecture", "model_type", "chat_template", "lora_targets", "context_length", "license", "gated",
    "trust_remote_code", "status", "modality", "note", "shape",
}
SIZE = re.compile(r"^\d+(\.\d+)?[bm]$")
MODEL_KEYS = FAMILY_KEYS | {"id", "modelscope", "huggingface", "params_b", "vision_b", "hub"}


def _entry(family: dict[str, Any], model: dict[str, Any], where: str) -> ModelInfo:
    unknown = set(model) - MODEL_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    merged = {k: v for k, v in family.items() if k in FAMILY_KEYS}
    merged.update(model)
    merged["shape"] = {**family.get("shape", {}), **model.get("shape", {})}
    model_id = merged["id"]
    hub = merged.get("hub")
    hf = merged.get("huggingface", model_id if hub is None else None)
    ms = merged.get("modelscope", model_id if hub is None else None)
    targets = merged.get("lora_targets", "all-linear")
    return ModelInfo(
        id=model_id,
        family=family["family"],
        huggingface_id=hf,
        modelscope_id=ms,
        architecture=merged.get("architecture", ""),
        model_type=merged.get("model_type", ""),
        params_b=float(merged["params_b"]) if merged.get("params_b") is not None else None,
        vision_b=float(merged["vision_b"]) if merged.get("vision_b") is not None else None,
        chat_template=merged.get("chat_template"),
        lora_targets=tuple(targets) if isinstance(targets, list) else targets,
        context_length=merged.get("context_length"),
        license=merged.get("license"),
        gated=tuple(merged.get("gated") or ()),
        trust_remote_code=bool(merged.get("trust_remote_code", False)),
        status=merged.get("status", "ready"),
        modality=merged.get("modality", "text"),
        hub=hub,
        note=merged.get("note", ""),
        source="builtin" if hub == "builtin" else "catalogue",
        shape=merged["shape"],
    )


@functools.lru_cache(maxsize=1)
def entries() -> tuple[ModelInfo, ...]:
    """Every catalogued model, in the file's order (families, then size)."""
    data = yaml.load(CATALOGUE.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    out: list[ModelInfo] = []
    for i, family in enumerate(data["families"]):
        for j, model in enumerate(family["models"]):
            out.append(_entry(family, model, f"{CATALOGUE.name}: families[{i}].models[{j}]"))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def _index() -> dict[str, ModelInfo]:
    index: dict[str, ModelInfo] = {}
    for info in entries():
        for key in (info.id, info.huggingface_id, info.modelscope_id):
            if key:
                index.setdefault(key.lower(), info)
    return index


def lookup(model_id: str, hub: str | None = None) -> ModelInfo | None:
    """The catalogue entry for an ID on either hub (case-insensitive), or None."""
    info = _index().get(model_id.strip().lower())
    if info is None:
        return None
    if hub == "builtin" and info.hub != "builtin":
        return None
    if hub in ("modelscope", "huggingface") and info.hub == "builtin":
        return None
    return info


def search(text: str = "", include_coming: bool = True) -> list[ModelInfo]:
    """Entries whose IDs, family, architecture or note contain every word of `text`."""
    words = text.lower().split()
    out = []
    for info in entries():
        if not include_coming and info.status != "ready":
            continue
        haystack = " ".join(
            str(x) for x in (info.id, info.huggingface_id, info.modelscope_id, info.family, info.architecture,
                             info.model_type, info.note, info.modality, info.size_label,
                             "vlm vision-language" if info.modality == "vision" else "")
            if x
        ).lower()
        tokens = re.split(r"[^a-z0-9.]+", haystack)
        if all(_matches(w, haystack, tokens) for w in words):
            out.append(info)
    return out


def _matches(word: str, haystack: str, tokens: list[str]) -> bool:
    """A size ("7b", "0.5b") matches a whole size token, so 7b does not find 1.7B; other words are substrings."""
    if SIZE.match(word):
        return any(t == word or t.startswith(word + ".") or t.endswith("-" + word) for t in tokens)
    return word in haystack
