"""Load a model and tokenizer the way a job asks: precision, quantisation, remote code, device."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..hardware import Hardware
from ..spec import JobSpec

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def torch_dtype(precision: str) -> Any:
    import torch

    return getattr(torch, DTYPES[precision])


def load_tokenizer(path: Path, spec: JobSpec) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path), trust_remote_code=spec.model.trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(
    path: Path, spec: JobSpec, hw: Hardware, precision: str, quantization: str = "none", sharded: bool = False
) -> Any:
    """Weights in the job's precision, or a 4-bit / 8-bit bitsandbytes base for (Q)LoRA.

    A quantised base on a GPU goes to this process's own device (LOCAL_RANK under torchrun), as
    bitsandbytes needs the weights on the device when they are packed.
    """
    from transformers import AutoModelForCausalLM

    from .quant import bnb_config, fix_cpu_4bit

    quant = bnb_config(quantization, precision, hw, sharded=sharded)
    kwargs: dict[str, Any] = {"dtype": torch_dtype(precision), "trust_remote_code": spec.model.trust_remote_code}
    if quant is not None:
        kwargs["quantization_config"] = quant
        if hw.accelerator == "cuda" and not sharded:
            kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    from .options import attn_implementation

    if attn_implementation(hw) and precision in ("bf16", "fp16"):  # flash-attention 2 runs in 16-bit only
        kwargs["attn_implementation"] = attn_implementation(hw)
    model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    if quantization == "4bit" and hw.accelerator == "cpu":
        fix_cpu_4bit(model)
    return model


# --- vision-language models ------------------------------------------------------------------------------

def is_vision_dir(path: Path) -> bool:
    """Whether the model folder holds a vision-language model (its config.json; engine.registry decides)."""
    from ..registry import is_vision_model

    return (Path(path) / "config.json").is_file() and is_vision_model(Path(path))


def load_processor(
    path: Path, spec: Any = None, *, trust_remote_code: bool | None = None, max_pixels: int | None = None,
    min_pixels: int | None = None,
) -> Any:
    """The folder's AutoProcessor (image processor + tokenizer + chat template), loadable without torchvision.

    `spec` (a JobSpec) supplies trust_remote_code and dataset.max_image_pixels; the keywords override
    it (the server passes its own flags). The pixel bounds reach the processors that resize by area
    (Qwen-VL: min_pixels / max_pixels, which set how many image tokens an image becomes); the others
    resize every image to their fixed input size anyway.
    """
    from ..util.processors import ensure_processor_support

    ensure_processor_support()
    from transformers import AutoProcessor

    if trust_remote_code is None:
        trust_remote_code = bool(getattr(getattr(spec, "model", None), "trust_remote_code", False))
    if max_pixels is None:
        max_pixels = getattr(getattr(spec, "dataset", None), "max_image_pixels", None)
    processor = AutoProcessor.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    bound_pixels(processor, max_pixels=max_pixels, min_pixels=min_pixels)
    tok = getattr(processor, "tokenizer", None)
    if tok is not None and tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return processor


def bound_pixels(processor: Any, max_pixels: int | None = None, min_pixels: int | None = None) -> Any:
    """Cap (and floor) the pixels an area-resizing image processor keeps; other processors are left as they are."""
    ip = getattr(processor, "image_processor", processor)
    size = getattr(ip, "size", None)
    if size is None or not hasattr(ip, "merge_size"):
        return processor
    import dataclasses

    bounds = dict(size) if isinstance(size, dict) else dataclasses.asdict(size) if dataclasses.is_dataclass(size) else {}
    if not bounds.get("longest_edge"):
        return processor
    if max_pixels:
        bounds["longest_edge"] = min(int(max_pixels), int(bounds["longest_edge"]))
    if min_pixels:
        bounds["shortest_edge"] = int(min_pixels)
    bounds["shortest_edge"] = min(int(bounds["shortest_edge"]), int(bounds["longest_edge"]))
    ip.size = bounds if isinstance(size, dict) else dataclasses.replace(size, **bounds)
    for key, attr in (("shortest_edge", "min_pixels"), ("longest_edge", "max_pixels")):
        if hasattr(ip, attr):
            setattr(ip, attr, bounds[key])
    return processor


def load_vision_model(
    path: Path, spec: JobSpec, hw: Hardware, precision: str, quantization: str = "none", sharded: bool = False
) -> Any:
    """A vision-language model through AutoModelForImageTextToText, with load_model's precision and quantisation.

    4-bit / 8-bit packs the language model only: the vision tower and projector stay in the job's
    precision (they are frozen, and quantising them costs accuracy for little memory).
    """
    from ..util.processors import ensure_processor_support

    ensure_processor_support()
    from transformers import AutoModelForImageTextToText

    from ..registry.targets import PROJECTOR, VISION_TOWER
    from .quant import bnb_config, fix_cpu_4bit

    quant = bnb_config(quantization, precision, hw, sharded=sharded)
    kwargs: dict[str, Any] = {"dtype": torch_dtype(precision), "trust_remote_code": spec.model.trust_remote_code}
    if quant is not None:
        # transformers re.match-es these from the start of the module path, so each part is "any prefix + name".
        skip = list(getattr(quant, "llm_int8_skip_modules", None) or [])
        skip += [rf"(?:.*\.)?{name}" for name in (*VISION_TOWER, *PROJECTOR)] + ["lm_head"]
        quant.llm_int8_skip_modules = sorted(set(skip))
        kwargs["quantization_config"] = quant
        if hw.accelerator == "cuda" and not sharded:
            kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    model = AutoModelForImageTextToText.from_pretrained(str(path), **kwargs)
    if quantization == "4bit" and hw.accelerator == "cpu":
        fix_cpu_4bit(model)
    return model


def model_type(path: Path) -> str:
    import json

    try:
        return json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type", "")
    except (OSError, ValueError):
        return ""


def decoder_layer_classes(path: Path, trust_remote_code: bool = False) -> list[str]:
    """The model's transformer-block class names (what FSDP wraps one by one), from config.json alone."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    try:
        cls = AutoModelForCausalLM._model_mapping[type(config)]
    except KeyError:
        return []
    return list(getattr(cls, "_no_split_modules", None) or [])
