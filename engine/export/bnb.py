"""bitsandbytes 4-bit (nf4, double quantisation): no calibration, quantised as the model loads, saved 4-bit.

The second export option: it needs no calibration data and works for any width (no groups to fit),
and transformers (and vLLM with --quantization bitsandbytes) load the saved folder 4-bit as it is.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

IGNORE = ("lm_head",)
FORMAT = "bitsandbytes nf4 (double quantisation)"

logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


def config(compute_dtype: Any) -> Any:
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
        llm_int8_skip_modules=list(IGNORE),
    )


def quantize(source: Path, dtype: Any, trust_remote_code: bool, device: str) -> Any:
    """The source model loaded 4-bit: bitsandbytes packs the weights as they load, on the device they run on."""
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"device_map": {"": 0}} if device == "cuda" else {}
    return AutoModelForCausalLM.from_pretrained(
        str(source), quantization_config=config(dtype), dtype=dtype, trust_remote_code=trust_remote_code, **kwargs
    )


def cpu_safe(model: Any) -> Any:
    """bitsandbytes 0.50 on AVX512-BF16 CPUs repacks 4-bit weights on the first forward and then fails on
    layers whose width is not a multiple of 32; turning that path off avoids it (../shared/STACK.md)."""
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False
    return model


def save(model: Any, tokenizer: Any, folder: Path) -> None:
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))


def describe(spec: Any, calib: Any) -> str:
    return "bitsandbytes 4-bit (nf4, double quantisation), no calibration"


def export(run: Any, variant: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Quantise as the model loads, save 4-bit, check against the source."""
    from ..errors import UserError
    from ..training.loading import is_vision_dir
    from .job import free_memory

    if is_vision_dir(run.source):
        raise UserError("export.method: bnb-4bit does not handle vision-language models yet (it would pack the "
                        "vision tower too); use export.method: awq, which quantises the language model only")
    model = quantize(run.source, run.dtype, run.spec.model.trust_remote_code, run.device)
    save(model, run.tokenizer, run.tmp)
    quantized = time.time()
    run.ctx.emit("progress", step=1, total=1, unit="model", message="quantised on load and saved")
    del model
    free_memory()
    run.watch.now("verifying against the source model")
    figures = run.checker.check(run.tmp)
    return {"algorithm": "nf4", "bits": 4, "group_size": None,
            "group_size_reason": "nf4 uses blocks of 64, any width works", "symmetric": None,
            "format": FORMAT, "not_quantized": list(IGNORE), "samples": 0, "quantized_at": quantized}, figures
