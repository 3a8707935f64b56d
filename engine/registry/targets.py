"""LoRA target modules for `target_modules: auto`: the family's attention projections.

Model-family knowledge, so it lives in the registry: the resolver, the estimator and training all read it.
A vision-language model also holds a vision tower whose layers reuse the same names (CLIP's q_proj,
InternViT's, Pixtral's), so for those training scopes the names to the language model with a regex
(`language_only`), and the freezing code finds the tower and the projector by `vision_part`.
"""

from __future__ import annotations

import re

ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
MLP = ["gate_proj", "up_proj", "down_proj"]
# Module-name components of a VLM's parts, as transformers 5.17 names them in memory.
LANGUAGE_MODEL = ("language_model", "text_model")
VISION_TOWER = ("visual", "vision_tower", "vision_model", "vision_encoder")
PROJECTOR = ("multi_modal_projector", "connector", "merger", "deepstack_merger_list", "mm_projector",
             "image_newline")
VISION_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "internvl", "llava", "llava_next", "llava_onevision",
                "mistral3", "mllama", "idefics3", "smolvlm")
BY_MODEL_TYPE: dict[str, list[str]] = {
    "llama": ATTENTION,
    "qwen2": ATTENTION,
    "qwen3": ATTENTION,
    "qwen2_moe": ATTENTION,
    "qwen3_moe": ATTENTION,
    "mistral": ATTENTION,
    "mixtral": ATTENTION,
    "gemma": ATTENTION,
    "gemma2": ATTENTION,
    "gemma3": ATTENTION,
    "gemma3_text": ATTENTION,
    "phi3": ["qkv_proj", "o_proj"],
    "phi": ["q_proj", "k_proj", "v_proj", "dense"],
    "glm4": ATTENTION,
    "chatglm": ["query_key_value", "dense"],
    "internlm2": ["wqkv", "wo"],
    "internlm3": ATTENTION,
    "baichuan": ["W_pack", "o_proj"],
    "deepseek_v2": ["q_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"],
    "deepseek_v3": ["q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"],
    "gpt2": ["c_attn", "c_proj"],
    **{kind: ATTENTION for kind in VISION_TYPES},
}


def resolve(target: str | list[str], model_type: str) -> str | list[str]:
    """Explicit lists pass through; auto → the family's projections, or all-linear for unknown families."""
    if isinstance(target, list):
        return target
    if target == "all-linear":
        return "all-linear"
    return BY_MODEL_TYPE.get(model_type, "all-linear")


def vision_part(name: str) -> str | None:
    """Which part of a VLM a module or parameter name is in: projector, tower, or None (language model, lm_head)."""
    parts = name.split(".")
    if any(p in PROJECTOR for p in parts):  # before the tower: Qwen-VL's merger sits inside `visual`
        return "projector"
    if any(p in VISION_TOWER for p in parts):
        return "tower"
    return None


def language_only(target: str | list[str], model_type: str) -> str:
    """A peft target regex (full match) for these names inside the language model only, never the vision tower."""
    names = resolve(target, model_type)
    if names == "all-linear":
        names = ATTENTION + MLP
    wanted = "|".join(re.escape(n) for n in names)
    return rf"(?:.*\.)?(?:{'|'.join(LANGUAGE_MODEL)})\..*\.(?:{wanted})"
