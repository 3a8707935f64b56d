"""bitsandbytes loading for QLoRA (4-bit nf4) and 8-bit LoRA, and the CPU work-arounds it needs.

Facts measured with bitsandbytes 0.50.2 (../shared/STACK.md): 4-bit and 8-bit bases train on
CPU; on AVX512-BF16 CPUs the first no-grad forward (an evaluation) repacks the 4-bit weights,
after which layers whose width is not a multiple of 32 fail and training breaks. Turning
`support_avx512bf16_for_cpu` off on every Linear4bit avoids both.
"""

from __future__ import annotations

from typing import Any

from ..errors import UserError
from ..hardware import Hardware

PAGED = ("paged_adamw_8bit", "paged_adamw_32bit")


def compute_dtype_name(precision: str, hw: Hardware) -> str:
    """bf16 where the device has it (recent GPUs, and the CPU path), fp16 on older GPUs."""
    if precision in ("bf16", "fp16"):
        return "bfloat16" if precision == "bf16" else "float16"
    if hw.gpus and not all(g.bf16 for g in hw.gpus):
        return "float16"
    return "bfloat16"


def bnb_config(quantization: str, precision: str, hw: Hardware, sharded: bool = False) -> Any:
    """A BitsAndBytesConfig for a 4bit / 8bit base, or None for a full-precision one.

    sharded: FSDP / ZeRO-3 need the packed 4-bit weights stored in the compute dtype so that
    every shard has one dtype.
    """
    if quantization not in ("4bit", "8bit"):
        return None
    _need_bitsandbytes()
    import torch
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    dtype = getattr(torch, compute_dtype_name(precision, hw))
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
        **({"bnb_4bit_quant_storage": dtype} if sharded else {}),
    )


def fix_cpu_4bit(model: Any) -> int:
    """Turn off the AVX512-BF16 repacking on every 4-bit layer; return how many were changed."""
    import bitsandbytes as bnb

    count = 0
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False
            count += 1
    return count


def optimizer_name(optimizer: str, hw: Hardware) -> tuple[str, str | None]:
    """The transformers `optim` value for a job's optimizer, and a note for the log if any.

    Paged optimizers page their state to host memory under GPU memory pressure; on a CPU there is
    nothing to page, and bitsandbytes 0.50 runs them as plain (8-bit or 32-bit) AdamW — checked
    by training with both on CPU. So they are accepted there, with a note, rather than refused.
    """
    if optimizer == "adamw":
        return "adamw_torch", None
    if optimizer not in PAGED:
        raise UserError(f"train.optimizer: unknown optimizer {optimizer}; use adamw, paged_adamw_8bit or paged_adamw_32bit")
    _need_bitsandbytes(field="train.optimizer")
    if hw.accelerator == "npu":
        raise UserError(f"train.optimizer: {optimizer} is a CUDA/CPU bitsandbytes optimizer; use adamw on Ascend NPUs")
    note = None
    if hw.accelerator == "cpu":
        import warnings

        note = f"{optimizer}: no GPU, so nothing is paged; bitsandbytes runs it as a plain optimizer on the CPU"
        warnings.filterwarnings("ignore", message="Paged optimizers are not supported on CPU")  # said in the note
    return optimizer, note


def _need_bitsandbytes(field: str = "train.quantization") -> None:
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        raise UserError(f"{field}: needs the bitsandbytes package; install it with: pip install bitsandbytes")
