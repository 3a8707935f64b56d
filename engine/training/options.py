"""Trainer settings that decide speed: length-grouped batches, packing, Liger kernels, attention kernel.

Why a module of its own: each is a decision about this machine (is there a GPU, is flash-attention
or liger-kernel installed) that must be made before the trainer is built, and the same answer has to
reach the model loader (attention kernel) and the config (packing, Liger).

Packing is only "auto" on where the attention kernel keeps packed rows apart and costs nothing for
it: flash-attention 2's variable-length path on a GPU. On a CPU (SDPA), transformers 5.17 also keeps
rows apart when TRL's padding-free batches carry position_ids and no attention mask (it builds a
block-diagonal mask from them; tests/unit/test_train_packing.py checks the per-row losses agree), but
that mask makes attention cost (sum of lengths)², so there it is only on when asked for.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from ..errors import UserError
from ..hardware import Hardware
from ..spec import JobSpec


def flash_attention(hw: Hardware) -> bool:
    """flash-attention 2 is installed and a CUDA GPU trains."""
    return hw.accelerator == "cuda" and importlib.util.find_spec("flash_attn") is not None


def attn_implementation(hw: Hardware) -> str | None:
    """What load_model passes as attn_implementation (None: transformers' default, SDPA)."""
    return "flash_attention_2" if flash_attention(hw) else None


def packing(spec: JobSpec, hw: Hardware) -> bool:
    choice = spec.train.packing
    return choice == "on" or (choice == "auto" and flash_attention(hw))


def liger(spec: JobSpec, hw: Hardware) -> bool:
    """Liger's layer kernels (RMSNorm, RoPE, SwiGLU): on a CUDA GPU, when installed (auto) or asked for (liger)."""
    choice = spec.train.kernels
    if choice == "none" or hw.accelerator != "cuda":
        return False
    installed = importlib.util.find_spec("liger_kernel") is not None
    if choice == "liger" and not installed:
        raise UserError("train.kernels: liger needs the liger-kernel package; install it: "
                        ".venv/bin/python -m pip install liger-kernel (or set train.kernels: auto)")
    return installed


def common_kwargs(spec: JobSpec, hw: Hardware) -> dict[str, Any]:
    """Keys every trainer's config takes (SFT, DPO, KTO)."""
    return {"use_liger_kernel": True} if liger(spec, hw) else {}


def sft_kwargs(spec: JobSpec, hw: Hardware) -> dict[str, Any]:
    """SFTConfig keys: packing (best-fit decreasing bins of max_length, kept apart by position_ids) or
    length-grouped batches. Grouping needs the tokenised `input_ids` column, which SFT has and the
    preference trainers' datasets do not, so it is SFT's alone."""
    if packing(spec, hw):
        return {"packing": True, "packing_strategy": "bfd"}
    strategy = "group_by_length" if spec.train.group_by_length else "random"
    return {"packing": False, "train_sampling_strategy": strategy}
