"""How the model is trained: method, adapter shape and the optimisation knobs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from .base import Section
from .methods import PREFERENCE_ALGORITHMS

Method = Literal["lora", "qlora", "full"]
Precision = Literal["auto", "bf16", "fp16", "fp32"]
Quantization = Literal["auto", "none", "4bit", "8bit"]
Optimizer = Literal["adamw", "paged_adamw_8bit", "paged_adamw_32bit"]


class LoraSpec(Section):
    r: int = Field(8, ge=1, le=1024, description="LoRA rank: adapter size; 8–64 is typical.")
    alpha: int = Field(16, ge=1, le=4096, description="LoRA alpha: scales the adapter; usually 2 × r.")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the adapter inputs, 0 to <1.")
    target_modules: Literal["auto", "all-linear"] | list[str] = Field(
        "auto",
        description="Layers that get adapters: auto (the model family's attention projections), "
        "all-linear, or a list of module names such as [q_proj, v_proj].",
    )

    @field_validator("target_modules")
    @classmethod
    def _names_not_empty(cls, value: object) -> object:
        if isinstance(value, list):
            if not value:
                raise ValueError("give at least one module name, or auto")
            for name in value:
                if not name or not all(ch.isalnum() or ch in "._-" for ch in name):
                    raise ValueError(f"{name!r} is not a module name (letters, digits, . _ -)")
        return value


class VisionSpec(Section):
    """What a vision-language model trains besides its language model (ignored for text models)."""

    freeze_vision_tower: bool = Field(
        True,
        description="Keep the image encoder as it is (recommended: it already sees; training it needs far more "
        "data and memory). LoRA adapters go into it only when this is false and lora.target_modules lists them.",
    )
    freeze_projector: bool = Field(
        True, description="Keep the layer that maps image features into the language model as it is."
    )


class TrainSpec(Section):
    method: Method = Field(
        "lora",
        description="lora (adapter on a 16-bit base), qlora (adapter on a 4-bit base: least memory) "
        "or full (every weight: most memory).",
    )
    quantization: Quantization = Field(
        "auto",
        description="How the base is loaded for training: auto (4bit for qlora, none otherwise), none, 4bit, 8bit.",
    )
    lora: LoraSpec = Field(default_factory=LoraSpec, description="Adapter shape (lora and qlora only).")
    vision: VisionSpec = Field(
        default_factory=VisionSpec, description="Vision-language models only: which image parts stay frozen."
    )
    learning_rate: float = Field(1e-4, gt=0.0, le=1.0, description="Peak learning rate.")
    epochs: float = Field(3.0, gt=0.0, le=1000.0, description="Passes over the data (ignored when max_steps is set).")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimiser steps; empty = use epochs.")
    batch_size: int = Field(2, ge=1, le=4096, description="Rows per device per step.")
    grad_accum: int = Field(4, ge=1, le=4096, description="Steps to accumulate before each optimiser update.")
    max_length: int = Field(1024, ge=16, le=1_048_576, description="Longest row in tokens; longer rows are cut.")
    precision: Precision = Field(
        "auto", description="Number format: auto (bf16 on GPUs that support it, fp16 on others, fp32 on CPU)."
    )
    optimizer: Optimizer = Field(
        "adamw",
        description="adamw, or bitsandbytes' paged_adamw_8bit / paged_adamw_32bit (less GPU memory for QLoRA; "
        "on a CPU nothing is paged and they run as plain optimizers).",
    )
    lr_scheduler: Literal["cosine", "linear", "constant"] = Field("cosine", description="Learning-rate schedule.")
    warmup_ratio: float = Field(0.03, ge=0.0, lt=1.0, description="Share of steps spent warming up.")
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory: recompute activations.")
    assistant_only_loss: bool = Field(True, description="Learn only from the assistant's turns, not the prompts.")
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Random seed for shuffling, initialisation and dropout.")
    save_steps: int = Field(100, ge=1, description="Save a resumable checkpoint every this many steps.")
    save_total_limit: int = Field(2, ge=1, le=100, description="Keep this many newest checkpoints.")
    logging_steps: int = Field(1, ge=1, description="Report loss and speed every this many steps.")
    group_by_length: bool = Field(
        True, description="Batch rows of similar length together, so little compute goes on padding."
    )
    packing: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Pack several rows into one sequence: auto (only where the attention kernel keeps them apart: "
        "flash-attention on a GPU), on, or off.",
    )
    kernels: Literal["auto", "liger", "none"] = Field(
        "auto",
        description="Fused GPU kernels: auto (Liger when liger-kernel is installed and a GPU trains), liger, "
        "or none. Never used on a CPU.",
    )
    report_to: Literal["none", "tensorboard", "swanlab", "wandb"] = Field(
        "none",
        description="Experiment tracker: none, tensorboard (logs under jobs/<name>/runs/), swanlab or wandb "
        "(their package must be installed).",
    )


class DpoSpec(Section):
    algorithm: Literal[tuple(PREFERENCE_ALGORITHMS)] = Field(  # type: ignore[valid-type]
        "dpo", description=" or ".join(f"{a.name} ({a.description})" for a in PREFERENCE_ALGORITHMS.values()) + "."
    )
    beta: float = Field(0.1, gt=0.0, le=10.0, description="How far the model may move from the reference.")
    loss: Literal["sigmoid", "ipo", "hinge", "robust"] = Field("sigmoid", description="DPO loss type.")
    learning_rate: float = Field(5e-6, gt=0.0, le=1.0, description="Peak learning rate for preference training.")
    epochs: float = Field(1.0, gt=0.0, le=1000.0, description="Passes over the preference data.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many steps; empty = use epochs.")
