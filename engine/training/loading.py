"""Load a model and tokenizer the way a job asks: precision, quantisation, remote code, device."""

from __future__ import annotations

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


def load_model(path: Path, spec: JobSpec, hw: Hardware, precision: str) -> Any:
    """Full-precision (or job-precision) weights; quantised loading is added by the QLoRA path."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        str(path), dtype=torch_dtype(precision), trust_remote_code=spec.model.trust_remote_code
    )


def model_type(path: Path) -> str:
    import json

    try:
        return json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type", "")
    except (OSError, ValueError):
        return ""
