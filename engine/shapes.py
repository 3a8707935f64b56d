"""A model's shape and parameter count from its config.json alone — no weights, no torch.

The estimator (engine.estimate) and the model registry both need "how big is this model" before
anything is downloaded. The families differ only in key names (n_embd / hidden_size, n_layer /
num_hidden_layers, ...) and a few structural switches (grouped-query attention, gated MLP, MoE
experts, DeepSeek's low-rank attention, tied embeddings), so one reader covers them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# Families whose MLP has no gate (two matrices, not three).
UNGATED = {"gpt2", "gpt_neox", "gptj", "phi", "opt", "bloom", "falcon", "starcoder2", "gpt_bigcode"}
# Families whose configs leave tie_word_embeddings out but tie by default.
TIED_BY_DEFAULT = {"gpt2", "gemma", "gemma2", "gemma3", "gemma3_text", "opt", "bloom"}
# Families that put a bias on the q/k/v projections without a config key for it.
QKV_BIAS = {"qwen2", "qwen2_moe", "qwen2_vl", "qwen2_5_vl"}


@dataclass(frozen=True)
class Shape:
    """The dimensions that decide memory: widths, layer count, attention layout, experts."""

    model_type: str
    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    gated: bool
    tied: bool
    qkv_bias: bool
    experts: int = 0  # routed experts per MoE layer (0: dense model)
    experts_active: int = 0  # experts each token goes through
    expert_intermediate: int = 0
    shared_intermediate: int = 0  # always-on shared expert(s), total width
    dense_layers: int = 0  # leading layers that stay dense in an MoE model
    q_lora_rank: int = 0  # DeepSeek multi-head latent attention
    kv_lora_rank: int = 0
    rope_head_dim: int = 0
    v_head_dim: int = 0
    dtype: str = "bfloat16"
    vision: int = 0  # parameters of a VLM's vision tower and projector (kept frozen and 16-bit)

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def moe_layers(self) -> int:
        return self.layers - self.dense_layers if self.experts else 0

    @property
    def active_intermediate(self) -> int:
        """MLP width a token passes through in an average layer (what its activations scale with)."""
        if not self.experts:
            return self.intermediate
        moe = self.expert_intermediate * self.experts_active + self.shared_intermediate
        return (moe * self.moe_layers + self.intermediate * self.dense_layers) // self.layers


@dataclass(frozen=True)
class ParamCount:
    """Parameters by part; `linear` is what 4-bit quantisation packs (the blocks' matrices)."""

    embedding: int
    attention: int
    mlp: int
    experts: int
    norms: int
    lm_head: int
    vision: int = 0  # a VLM's vision tower and projector: counted in total, never in linear (not packed)

    @property
    def total(self) -> int:
        return self.embedding + self.attention + self.mlp + self.experts + self.norms + self.lm_head + self.vision

    @property
    def linear(self) -> int:
        return self.attention + self.mlp + self.experts

    def to_dict(self) -> dict[str, int]:
        return asdict(self) | {"total": self.total}


def _first(cfg: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        value = cfg.get(key)
        if value is not None:
            return value
    return default


def text_config(config: dict[str, Any]) -> dict[str, Any]:
    """The language model's part of a (possibly multimodal) config; vision_params counts the rest."""
    inner = config.get("text_config") or config.get("llm_config")
    if isinstance(inner, dict) and inner.get("hidden_size"):
        return {"model_type": config.get("model_type", ""), **inner}
    return config


def shape_of(config: dict[str, Any]) -> Shape:
    """Read a config.json dict; ValueError names the key that is missing."""
    cfg = text_config(config)
    kind = str(cfg.get("model_type") or "")
    hidden = _first(cfg, "hidden_size", "n_embd", "d_model", "dim")
    layers = _first(cfg, "num_hidden_layers", "n_layer", "num_layers", "n_layers")
    heads = _first(cfg, "num_attention_heads", "n_head", "num_heads", "n_heads")
    vocab = _first(cfg, "vocab_size", "padded_vocab_size")
    for name, value in (("hidden_size", hidden), ("num_hidden_layers", layers),
                        ("num_attention_heads", heads), ("vocab_size", vocab)):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"config.json has no usable {name}")
    kv_heads = _first(cfg, "num_key_value_heads", "multi_query_group_num", "n_kv_heads", default=heads)
    if cfg.get("multi_query") and not cfg.get("num_key_value_heads"):
        kv_heads = 1
    head_dim = _first(cfg, "head_dim", "kv_channels", default=hidden // heads)
    intermediate = _first(cfg, "intermediate_size", "n_inner", "ffn_hidden_size", "ffn_dim", default=4 * hidden)
    tied = cfg.get("tie_word_embeddings")
    if tied is None:
        tied = kind in TIED_BY_DEFAULT
    gated = kind not in UNGATED
    experts = int(_first(cfg, "num_experts", "num_local_experts", "n_routed_experts", default=0) or 0)
    shared = 0
    if experts:
        shared = int(cfg.get("shared_expert_intermediate_size") or 0)
        if not shared and cfg.get("n_shared_experts"):
            shared = int(cfg["n_shared_experts"]) * int(cfg.get("moe_intermediate_size") or intermediate)
    dense = int(cfg.get("first_k_dense_replace") or 0)
    if experts and cfg.get("mlp_only_layers"):
        dense = len(cfg["mlp_only_layers"])
    rope = int(cfg.get("qk_rope_head_dim") or 0)
    if cfg.get("kv_lora_rank"):
        head_dim = int(cfg.get("qk_nope_head_dim") or 0) + rope
    return Shape(
        model_type=kind,
        vocab=int(vocab),
        hidden=int(hidden),
        layers=int(layers),
        heads=int(heads),
        kv_heads=int(kv_heads),
        head_dim=int(head_dim),
        intermediate=int(intermediate),
        gated=gated,
        tied=bool(tied),
        qkv_bias=bool(cfg.get("attention_bias") or cfg.get("qkv_bias") or kind in QKV_BIAS),
        experts=experts,
        experts_active=int(_first(cfg, "num_experts_per_tok", "moe_topk", default=2 if experts else 0) or 0),
        expert_intermediate=int(_first(cfg, "moe_intermediate_size", default=intermediate) or 0) if experts else 0,
        shared_intermediate=shared,
        dense_layers=dense,
        q_lora_rank=int(cfg.get("q_lora_rank") or 0),
        kv_lora_rank=int(cfg.get("kv_lora_rank") or 0),
        rope_head_dim=rope,
        v_head_dim=int(cfg.get("v_head_dim") or 0),
        vision=vision_params(config),
        dtype=str(_first(cfg, "torch_dtype", "dtype", default=config.get("torch_dtype") or "bfloat16")),
    )


def _size(value: Any) -> int:
    """An image or patch size given as 336, [336, 336] or {"height": 336, "width": 336}: one side."""
    if isinstance(value, dict):
        value = value.get("height") or next(iter(value.values()), 0)
    if isinstance(value, list | tuple):
        value = value[0] if value else 0
    return int(value) if isinstance(value, int | float) else 0


def vision_params(config: dict[str, Any]) -> int:
    """A VLM's vision tower and projector from its `vision_config` (0 for a text model).

    One formula for the ViTs the families use (CLIP, SigLIP, InternViT, Qwen-VL's, Pixtral's): per
    block attention 4·w² and an MLP of 2 or 3 (gated) w·m matrices, plus patch and position
    embeddings, plus a projector from the merged patch width to the language model's width. Within
    a few per cent of the published towers; `vision_params` in the dict (the catalogue's count) wins.
    """
    given = config.get("vision_params")
    if isinstance(given, int) and given > 0:
        return given
    vc = config.get("vision_config")
    if not isinstance(vc, dict):
        return 0
    width = _first(vc, "embed_dim", "hidden_size", "width")  # Qwen2-VL: embed_dim is the width, hidden_size its output
    layers = _first(vc, "depth", "num_hidden_layers", "num_layers")
    if not isinstance(width, int) or not isinstance(layers, int) or width <= 0 or layers <= 0:
        return 0
    layers += int(vc.get("num_global_layers") or 0)  # Mllama's second encoder
    mlp = int(vc.get("intermediate_size") or width * float(vc.get("mlp_ratio") or 4))
    kind = str(vc.get("model_type") or config.get("model_type") or "")
    gated = "qwen2_5" in kind or "pixtral" in kind
    block = 4 * width * width + (3 if gated else 2) * width * mlp + 9 * width + mlp  # + biases and norms
    patch = _size(vc.get("patch_size")) or 14
    embed = int(vc.get("num_channels") or vc.get("in_channels") or 3) * patch * patch * width
    embed *= int(vc.get("temporal_patch_size") or 1)
    image = _size(vc.get("image_size"))
    if image:
        embed += ((image // patch) ** 2 + 1) * width
    text = text_config(config)
    out = int(_first(text, "hidden_size", "n_embd", "d_model", default=width))
    merge = int(vc.get("spatial_merge_size") or config.get("scale_factor") or 1) ** 2
    if config.get("downsample_ratio"):
        merge = round(1 / float(config["downsample_ratio"]) ** 2)
    merged = width * merge
    projector = merged * merged + merged * out if "spatial_merge_size" in vc else merged * out + out * out
    projector *= 1 + len(vc.get("deepstack_visual_indexes") or [])  # Qwen3-VL's extra mergers
    return layers * block + embed + projector


def linear_shapes(s: Shape) -> dict[str, tuple[int, int]]:
    """(in, out) of each named matrix in one dense block — what LoRA target names refer to."""
    h, q, kv, inter = s.hidden, s.q_dim, s.kv_dim, s.intermediate
    out = {
        "q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
        "qkv_proj": (h, q + 2 * kv), "query_key_value": (h, q + 2 * kv), "W_pack": (h, q + 2 * kv),
        "wqkv": (h, q + 2 * kv), "c_attn": (h, q + 2 * kv), "wo": (q, h), "dense": (q, h),
        "gate_proj": (h, inter), "up_proj": (h, inter), "down_proj": (inter, h),
        "gate_up_proj": (h, 2 * inter), "w1": (h, inter), "w3": (h, inter), "w2": (inter, h),
        "fc1": (h, inter), "fc2": (inter, h), "c_fc": (h, inter), "c_proj": (inter, h),
        "dense_h_to_4h": (h, inter), "dense_4h_to_h": (inter, h),
    }
    if s.kv_lora_rank:  # DeepSeek multi-head latent attention
        nope = s.head_dim - s.rope_head_dim
        out.update({
            "q_a_proj": (h, s.q_lora_rank), "q_b_proj": (s.q_lora_rank, s.heads * s.head_dim),
            "kv_a_proj_with_mqa": (h, s.kv_lora_rank + s.rope_head_dim),
            "kv_b_proj": (s.kv_lora_rank, s.heads * (nope + s.v_head_dim)),
            "o_proj": (s.heads * s.v_head_dim, h),
        })
        if not s.q_lora_rank:
            out["q_proj"] = (h, s.heads * s.head_dim)
    return out


def _attention_params(s: Shape) -> int:
    if s.kv_lora_rank:
        m = linear_shapes(s)
        names = ["q_a_proj", "q_b_proj"] if s.q_lora_rank else ["q_proj"]
        names += ["kv_a_proj_with_mqa", "kv_b_proj", "o_proj"]
        norms = s.kv_lora_rank + s.q_lora_rank
        return sum(m[n][0] * m[n][1] for n in names) + norms
    weights = s.hidden * (s.q_dim + 2 * s.kv_dim) + s.q_dim * s.hidden
    bias = (s.q_dim + 2 * s.kv_dim) if s.qkv_bias else 0
    return weights + bias


def _mlp_params(s: Shape, width: int) -> int:
    return (3 if s.gated else 2) * s.hidden * width


def count_params(s: Shape) -> ParamCount:
    dense_layers = s.layers - s.moe_layers
    experts = 0
    if s.experts:
        per_layer = s.experts * _mlp_params(s, s.expert_intermediate) + s.hidden * s.experts
        per_layer += _mlp_params(s, s.shared_intermediate) if s.shared_intermediate else 0
        experts = per_layer * s.moe_layers
    return ParamCount(
        embedding=s.vocab * s.hidden,
        attention=_attention_params(s) * s.layers,
        mlp=_mlp_params(s, s.intermediate) * dense_layers,
        experts=experts,
        norms=(2 * s.layers + 1) * s.hidden,
        lm_head=0 if s.tied else s.vocab * s.hidden,
        vision=s.vision,
    )


def lora_params(s: Shape, targets: list[str] | str, r: int) -> tuple[int, list[str]]:
    """Adapter parameters for these target names, and the names that were not recognised.

    "all-linear" means every matrix of the block (peft leaves lm_head out); MoE experts are not
    counted (transformers 5 stores them as fused 3-D weights that peft's Linear targets miss).
    """
    shapes = linear_shapes(s)
    if targets == "all-linear":
        attn = ["q_proj", "k_proj", "v_proj", "o_proj"]
        if s.kv_lora_rank:
            q_names = ["q_a_proj", "q_b_proj"] if s.q_lora_rank else ["q_proj"]
            attn = [*q_names, "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"]
        mlp = ["gate_proj", "up_proj", "down_proj"] if s.gated else ["up_proj", "down_proj"]
        names = attn + (mlp if not s.experts or s.shared_intermediate or s.dense_layers else [])
    else:
        names = list(targets)
    unknown = [n for n in names if n.split(".")[-1] not in shapes]
    total = 0
    for name in names:
        key = name.split(".")[-1]
        d_in, d_out = shapes.get(key, (s.hidden, s.hidden))
        layers = s.layers
        if key in ("gate_proj", "up_proj", "down_proj") and s.experts:
            layers = s.dense_layers + (s.moe_layers if s.shared_intermediate else 0)
        total += r * (d_in + d_out) * layers
    return total, unknown
