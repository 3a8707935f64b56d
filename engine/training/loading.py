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
    model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
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
