"""Vision-language model folders for the servers: tell them apart, load them, turn a chat into model inputs.

A VLM is served through AutoProcessor + AutoModelForImageTextToText (transformers' native classes,
no remote code needed for the families the catalogue lists). The processor builds both the text
(the chat template, with a bare {"type": "image"} where each image goes — images.py has already
resolved and decoded every image) and the image tensors; the model's generate takes them together.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

IMAGE_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_vision_folder(model_dir: Path) -> bool:
    """The registry's answer (a vision_config, or a model type transformers maps to image-text-to-text), or else a
    *ForConditionalGeneration architecture saved with an image processor: served with its processor either way."""
    from ..training.loading import is_vision_dir

    if is_vision_dir(model_dir):
        return True
    config = _json(model_dir / "config.json")
    archs = config.get("architectures") or []
    if not any(isinstance(a, str) and a.endswith("ForConditionalGeneration") for a in archs):
        return False
    for name in IMAGE_PROCESSOR_FILES:
        data = _json(model_dir / name)
        if "image_processor_type" in data or isinstance(data.get("image_processor"), dict):
            return True
    return False


def load(model_dir: Path, trust_remote_code: bool, device: str, dtype: Any) -> tuple[Any, Any]:
    """(model, processor) for a VLM folder; the processor's tokenizer pads on the left, as batched generation needs."""
    from transformers import AutoModelForImageTextToText

    from ..training.loading import load_processor

    processor = load_processor(model_dir, trust_remote_code=trust_remote_code)  # torchvision workaround inside
    processor.tokenizer.padding_side = "left"
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=dtype, trust_remote_code=trust_remote_code)
    return model.to(device).eval(), processor


def chat_inputs(processor: Any, model: Any, messages: list[dict[str, Any]], images: list[Any]) -> tuple[list[int], dict[str, Any]]:
    """Template text → processor → (prompt ids, the other inputs generate needs: pixel_values, image_grid_thw,
    mm_token_type_ids, ... on the model's device, floating ones in its dtype)."""
    from .protocol import ApiError

    _refuse_placeholders(processor, messages)
    try:
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = processor(text=[text], images=[images] if images else None, return_tensors="pt", padding=True)
    except Exception as exc:  # the template's or processor's own refusal (e.g. "system role not supported")
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise ApiError(400, f"The model's processor rejected these messages: {first}", param="messages") from None
    ids = [int(i) for i in inputs["input_ids"][0]]
    extra: dict[str, Any] = {}
    for key, value in inputs.items():
        if key in ("input_ids", "attention_mask") or not hasattr(value, "to"):
            continue
        extra[key] = value.to(model.device, dtype=model.dtype) if value.is_floating_point() else value.to(model.device)
    return ids, extra


def _refuse_placeholders(processor: Any, messages: list[dict[str, Any]]) -> None:
    """Client text holding the image placeholder token would make the processor expand it for an image never sent."""
    from .protocol import ApiError

    tokens = [t for t in (getattr(processor, "image_token", None), getattr(processor, "video_token", None)) if t]
    for i, message in enumerate(messages):
        content = message["content"]
        texts = [(None, content)] if isinstance(content, str) else [
            (j, p["text"]) for j, p in enumerate(content) if p.get("type") == "text"]
        for j, text in texts:
            for token in tokens:
                if token in text:
                    where = f"messages[{i}].content" + ("" if j is None else f"[{j}].text")
                    raise ApiError(400, f"Text may not contain the image placeholder {token}; send images as "
                                   "image_url parts.", param=where, code="invalid_value")
