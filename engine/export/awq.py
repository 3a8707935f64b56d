"""AWQ 4-bit with llm-compressor: AWQModifier smooths, a W4A16 group QuantizationModifier quantises.

Why llm-compressor: AutoAWQ is archived (its README points here) and pins torch 2.6 / transformers
4.51; llm-compressor is maintained by the vLLM project, and its compressed-tensors "pack-quantized"
output is what vLLM loads directly. lm_head stays in full precision (quantising it costs the most
quality for the least memory).

AWQ's scales are chosen layer by layer on the calibration rows; on some models (measured: SmolLM2-135M
with 16-64 short rows) they leave the whole model worse than plain rounding to the same grid. The
stage therefore also makes the round-to-nearest version (seconds, no data) and ships it instead when
its perplexity is more than 2% closer to the source's; report.json records both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IGNORE = ("lm_head",)
BITS = 4  # AWQ's scales are searched for 4-bit groups; the w8a16 method and the ladder's 8-bit rung round to nearest
FORMAT = "compressed-tensors (pack-quantized)"


@dataclass(frozen=True)
class AwqSettings:
    bits: int
    group_size: int
    symmetric: bool
    max_length: int
    n_grid: int = 20


@contextlib.contextmanager
def pinning_off_without_accelerator() -> Iterator[None]:
    """llm-compressor pins its cached activations for faster host→GPU copies; with no GPU, pin_memory()
    raises "Cannot access accelerator device when none is available". Pinning only speeds copies
    that never happen on CPU, so skip it there (../shared/STACK.md, AWQ)."""
    import torch
    from llmcompressor.pipelines.cache import IntermediatesCache

    if torch.accelerator.is_available():
        yield
        return
    original = IntermediatesCache.__dict__["pin_memory"]
    IntermediatesCache.pin_memory = lambda self, *args, **kwargs: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        IntermediatesCache.pin_memory = original  # type: ignore[method-assign]


def recipe(settings: AwqSettings, ignore: tuple[str, ...] = IGNORE) -> list[Any]:
    """AWQ smoothing then W4A16 groups; `ignore`: layer names / `re:` patterns left unquantised."""
    from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme
    from llmcompressor.modifiers.quantization import QuantizationModifier
    from llmcompressor.modifiers.transform.awq import AWQModifier

    weights = QuantizationArgs(
        num_bits=settings.bits,
        type="int",
        symmetric=settings.symmetric,
        strategy="group",
        group_size=settings.group_size,
    )
    scheme = QuantizationScheme(targets=["Linear"], weights=weights)
    return [
        AWQModifier(n_grid=settings.n_grid),
        QuantizationModifier(config_groups={"group_0": scheme}, ignore=list(ignore)),
    ]


def quantize(model: Any, encoded: list[dict[str, list[int]]], settings: AwqSettings) -> Any:
    """Calibrate and quantise `model` in place on `encoded` rows; return it (still in memory)."""
    from datasets import Dataset
    from llmcompressor import oneshot

    dataset = Dataset.from_list(encoded)
    with pinning_off_without_accelerator():
        oneshot(
            model=model,
            dataset=dataset,
            recipe=recipe(settings),
            num_calibration_samples=len(encoded),
            max_seq_length=settings.max_length,
            shuffle_calibration_samples=False,
            pipeline="sequential",
        )
    return model


def quantize_rtn(model: Any, settings: AwqSettings, ignore: tuple[str, ...] = IGNORE) -> Any:
    """The same W4A16 groups by plain round-to-nearest (no AWQ scales, no data): the baseline AWQ must beat."""
    from llmcompressor import oneshot

    oneshot(model=model, recipe=recipe(settings, ignore)[1:], pipeline="datafree")
    return model


def save(model: Any, tokenizer: Any, folder: Path) -> None:
    """Write the compressed checkpoint (safetensors + quantization_config) that vLLM and transformers load."""
    model.save_pretrained(str(folder), save_compressed=True)
    tokenizer.save_pretrained(str(folder))
