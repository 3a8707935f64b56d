"""ModelInfo: everything later stages and the wizard need to know about a model, before or after download.

The same record comes from three places — the curated catalogue, a local folder's config.json
(the generic resolver) and the builtin models — so every consumer reads one shape. Light on
purpose: no torch, no transformers; the wizard builds its model screen from these.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

METHODS = ("lora", "qlora", "full")


@dataclass(frozen=True)
class ModelInfo:
    id: str  # catalogue key (Hugging Face style ID), builtin/<name>, or a local folder
    family: str = ""
    huggingface_id: str | None = None
    modelscope_id: str | None = None
    architecture: str = ""
    model_type: str = ""
    params_b: float | None = None
    vision_b: float | None = None  # vision tower, for multimodal models
    chat_template: str | None = None  # kind: chatml, llama3, ...; None means the model has none
    lora_targets: tuple[str, ...] | str = "all-linear"
    context_length: int | None = None
    license: str | None = None
    gated: tuple[str, ...] = ()  # hubs that ask for an access request first
    trust_remote_code: bool = False  # needs its own Python code to load
    status: str = "ready"  # ready | coming
    modality: str = "text"  # text | vision
    hub: str | None = None  # builtin for builtin models; None: either hub
    note: str = ""
    source: str = "catalogue"  # catalogue | local | builtin
    shape: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)  # config.json keys

    # --- derived -------------------------------------------------------------------------------
    def hub_id(self, hub: str) -> str | None:
        """The ID this model has on `hub` (None when it is not there)."""
        if hub == "huggingface":
            return self.huggingface_id
        if hub == "modelscope":
            return self.modelscope_id
        return self.id

    @property
    def size_label(self) -> str:
        if self.params_b is None:
            return "?"
        if self.params_b < 1:
            return f"{self.params_b * 1000:.0f}M"
        return f"{self.params_b:g}B"

    def download_gb(self) -> float | None:
        """Roughly what the hub folder weighs: 16-bit weights (what these repositories publish)."""
        if self.params_b is None:
            return None
        return round(self.params_b * 2, 1)  # 2 bytes a parameter: GB = billions x 2

    def min_gpu_gb(self) -> dict[str, float]:
        """Smallest memory per method (batch 1, 1024 tokens, gradient checkpointing, bf16, LoRA r 8)."""
        return memory_needs(self)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["lora_targets"] = list(self.lora_targets) if isinstance(self.lora_targets, tuple) else self.lora_targets
        data["gated"] = list(self.gated)
        data["min_gpu_gb"] = self.min_gpu_gb()
        data["size"] = self.size_label
        return data


_MEMORY_CACHE: dict[str, dict[str, float]] = {}


def memory_needs(info: ModelInfo) -> dict[str, float]:
    """Minimum GPU GB for lora / qlora / full from engine.estimate (arithmetic on the config shape)."""
    key = info.id
    if key in _MEMORY_CACHE:
        return _MEMORY_CACHE[key]
    out: dict[str, float] = {}
    if info.shape:
        from ..shapes import count_params, shape_of
        from ..sizing import Settings, memory

        vision = int((info.vision_b or 0.0) * 1e9)  # the frozen vision tower and projector, 16-bit
        try:
            shape = shape_of({"model_type": info.model_type, **info.shape, "vision_params": vision})
        except ValueError:
            shape = None
        if shape is not None:
            params = count_params(shape)
            targets = list(info.lora_targets) if isinstance(info.lora_targets, tuple) else info.lora_targets
            for method in METHODS:
                settings = Settings(method=method, precision="bf16", batch_size=1, max_length=1024,
                                    gradient_checkpointing=True, lora_r=8, targets=targets)
                out[method] = round(memory(shape, settings, params).total_gb, 1)
    _MEMORY_CACHE[key] = out
    return out


def shape_params_b(info: ModelInfo) -> float | None:
    """Parameters the shape adds up to (language model only), in billions; for checking the data."""
    if not info.shape:
        return None
    from ..shapes import count_params, shape_of

    return count_params(shape_of({"model_type": info.model_type, **info.shape})).total / 1e9
