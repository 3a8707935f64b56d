"""The generic resolver: ModelInfo for any model folder, from config.json and its tokenizer files.

Reads only small JSON files and safetensors headers (exact parameter counts without loading a
weight), so it is instant and torch-free. Which architectures transformers loads natively comes
from architectures.json, generated from the pinned transformers (a test keeps it in step).
"""

from __future__ import annotations

import functools
import json
import re
import struct
from pathlib import Path
from typing import Any

from .info import ModelInfo
from .targets import BY_MODEL_TYPE

ARCHITECTURES = Path(__file__).resolve().parent / "architectures.json"
REMOTE_CODE_VISION = {"internvl_chat"}  # vision-language models that only load with their own code

# Prompt-format kinds, recognised by the markers each template writes (first match wins).
TEMPLATE_MARKERS: tuple[tuple[str, str], ...] = (
    ("<｜User｜>", "deepseek-r1"),
    ("<think>", "qwen3"),
    ("<|start_header_id|>", "llama3"),
    ("<start_of_turn>", "gemma"),
    ("<|im_sep|>", "phi4"),
    ("<|im_start|>", "chatml"),
    ("[gMASK]", "glm4"),
    ("<|end|>", "phi3"),
    ("<reserved_106>", "baichuan2"),
    ("[INST]", "mistral"),
)


@functools.lru_cache(maxsize=1)
def known() -> dict[str, dict[str, str]]:
    """{"causal_lm": {model_type: class}, "multimodal": {...}, "transformers": version}."""
    return json.loads(ARCHITECTURES.read_text(encoding="utf-8"))


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def chat_template_text(folder: Path) -> str | None:
    """The chat template as transformers would find it: chat_template.jinja, then tokenizer_config.json."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8", errors="replace")
    for name in ("tokenizer_config.json", "chat_template.json"):
        data = read_json(folder / name) or {}
        template = data.get("chat_template")
        if isinstance(template, list):  # [{"name": "default", "template": "..."}, ...]
            named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
            template = named.get("default") or next(iter(named.values()), None)
        if isinstance(template, str) and template.strip():
            return template
    return None


def template_kind(text: str | None) -> str | None:
    if not text:
        return None
    for marker, kind in TEMPLATE_MARKERS:
        if marker in text:
            return kind
    return "custom"


def safetensors_params(folder: Path) -> int | None:
    """Exact parameter count from the safetensors headers (8-byte length + JSON), or None."""
    total = 0
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    for f in files:
        try:
            with open(f, "rb") as fh:
                (length,) = struct.unpack("<Q", fh.read(8))
                if length > 100 * 1024 * 1024:
                    return None
                header = json.loads(fh.read(length))
        except (OSError, ValueError, struct.error):
            return None
        for name, meta in header.items():
            if name == "__metadata__" or not isinstance(meta, dict):
                continue
            count = 1
            for dim in meta.get("shape", []):
                count *= int(dim)
            total += count
    return total


def _license(folder: Path) -> str | None:
    readme = folder / "README.md"
    try:
        head = readme.read_text(encoding="utf-8", errors="replace")[:4000]
    except OSError:
        return None
    if not head.startswith("---"):
        return None
    m = re.search(r"^license:\s*['\"]?([\w.\-]+)", head, re.MULTILINE)
    return m.group(1) if m else None


def _targets(model_type: str) -> tuple[str, ...] | str:
    found = BY_MODEL_TYPE.get(model_type)
    return tuple(found) if found else "all-linear"


def resolve_local(path: str | Path, model_id: str | None = None) -> ModelInfo:
    """ModelInfo for a folder that holds config.json; ValueError when there is none."""
    folder = Path(path)
    config = read_json(folder / "config.json")
    if config is None:
        raise ValueError(f"{folder}: no readable config.json")
    archs = config.get("architectures") or []
    arch = str(archs[0]) if archs else ""
    model_type = str(config.get("model_type") or "")
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    context = None
    for key in ("max_position_embeddings", "seq_length", "n_positions", "max_sequence_length"):
        value = text.get(key) if isinstance(text, dict) else None
        if isinstance(value, int):
            context = value
            break
    params = safetensors_params(folder)
    shape_keys = {k: v for k, v in (text or {}).items() if isinstance(v, int | bool | float)}
    if params is None:
        from ..shapes import count_params, shape_of

        try:
            params = count_params(shape_of(config)).total
        except ValueError:
            params = None
    vision = is_vision_config(config)
    vision_b = None
    if vision:
        from ..shapes import vision_params

        vision_b = round(vision_params(config) / 1e9, 6) or None
    return ModelInfo(
        id=model_id or str(folder),
        family=model_type,
        architecture=arch,
        model_type=model_type,
        params_b=round(params / 1e9, 4) if params else None,
        vision_b=vision_b,
        chat_template=template_kind(chat_template_text(folder)),
        lora_targets=_targets(model_type),
        context_length=context,
        license=_license(folder),
        trust_remote_code=bool(config.get("auto_map")),
        modality="vision" if vision else "text",
        source="local",
        shape=shape_keys,
    )


def is_vision_config(config: dict[str, Any]) -> bool:
    """Whether a config.json dict describes a vision-language model (engine.registry.vision re-exports it)."""
    if isinstance(config.get("vision_config"), dict):
        return True
    model_type = str(config.get("model_type") or "")
    kinds = known()
    return model_type in REMOTE_CODE_VISION or (model_type in kinds["multimodal"] and model_type not in kinds["causal_lm"])


def supported(info: ModelInfo) -> bool:
    """Whether transformers (pinned version) loads this model without the model's own code."""
    kinds = known()
    return info.model_type in kinds["causal_lm"] or info.model_type in kinds["multimodal"]
