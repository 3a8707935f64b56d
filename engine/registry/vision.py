"""Which models read images, and the remote-code InternVL checkpoints that the native classes cannot load.

One answer for every layer (spec validation, data checks, training, export, serving): a model is a
vision-language model when its config.json says so (a `vision_config`, or a model type that
transformers maps to AutoModelForImageTextToText and not to AutoModelForCausalLM) or, before any
download, when its catalogue entry is marked `modality: vision`. Torch-free and offline.

The seed's walkthrough names `internvl/internvl-chat-8b-v1-5`; InternVL 1.5, 2 and 2.5 (and the
non-`-hf` InternVL3 repositories) ship their own Python code (`model_type: internvl_chat`), which
AutoModelForImageTextToText does not load. Those IDs get one line at validate time, before a 16 GB
download, naming the native `OpenGVLab/InternVL3-*-hf` checkpoint nearest in size.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .catalogue import lookup
from .info import ModelInfo
from .resolver import REMOTE_CODE_VISION, is_vision_config, read_json

__all__ = ["is_vision_config", "is_vision_model", "native_internvl", "remote_code_vlm"]
# Native InternVL checkpoints by size (billions); the largest that is not above the asked size wins.
NATIVE_INTERNVL = ((1, "OpenGVLab/InternVL3-1B-hf"), (2, "OpenGVLab/InternVL3-2B-hf"),
                   (8, "OpenGVLab/InternVL3-8B-hf"), (14, "OpenGVLab/InternVL3-14B-hf"),
                   (38, "OpenGVLab/InternVL3-38B-hf"), (78, "OpenGVLab/InternVL3-78B-hf"))
_REMOTE_INTERNVL = re.compile(r"^(?:opengvlab|internvl)/(?:mini-)?internvl[\w.\-]*$|^internvl/[\w.\-]+$", re.I)
_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)b(?![a-z])", re.I)


def is_vision_model(model: Any, hub: str | None = None) -> bool:
    """Whether `model` reads images: a folder (its config.json), a ModelInfo, a job's model section
    (anything with `.id` and `.hub`), or a hub / catalogue ID."""
    if isinstance(model, ModelInfo):
        return model.modality == "vision"
    if hasattr(model, "id") and hasattr(model, "hub"):
        model, hub = model.id, model.hub
    text = str(model)
    folder = Path(text).expanduser()
    try:
        config = read_json(folder / "config.json") if folder.is_dir() else None
    except OSError:  # a name too long for the filesystem
        config = None
    if config is not None:
        return is_vision_config(config)
    if hub == "local":
        return False
    info = lookup(text, hub)
    if info is not None:
        return info.modality == "vision"
    return remote_code_vlm(text) is not None


def native_internvl(model_id: str) -> str:
    """The native InternVL3 checkpoint nearest in size to a remote-code InternVL ID (8B when it names none)."""
    found = _SIZE.findall(model_id.rsplit("/", 1)[-1])
    size = float(found[-1]) if found else 8.0
    best = NATIVE_INTERNVL[0][1]
    for billions, name in NATIVE_INTERNVL:
        if billions <= size + 0.5:
            best = name
    return best


def remote_code_vlm(model_id: str, config: dict[str, Any] | None = None) -> str | None:
    """One line for a remote-code InternVL model (by ID, or by a folder's config.json), or None."""
    model_id = model_id.strip()
    by_config = config is not None and str(config.get("model_type") or "") in REMOTE_CODE_VISION
    by_id = bool(_REMOTE_INTERNVL.match(model_id)) and not model_id.lower().endswith("-hf")
    if not (by_config or by_id):
        return None
    native = native_internvl(model_id)
    where = " (in the catalogue: python -m engine models --search internvl)" if lookup(native) else ""
    return (
        f"model.id: {model_id} is a remote-code InternVL checkpoint (model_type internvl_chat, its own Python code) "
        f"that transformers' native vision-language classes do not load; use the native checkpoint "
        f"{native}{where}"
    )
