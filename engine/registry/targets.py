"""LoRA target modules for `target_modules: auto`: the family's attention projections.

Model-family knowledge, so it lives in the registry: the resolver, the estimator and training all read it.
"""

from __future__ import annotations

ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
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
}


def resolve(target: str | list[str], model_type: str) -> str | list[str]:
    """Explicit lists pass through; auto → the family's projections, or all-linear for unknown families."""
    if isinstance(target, list):
        return target
    if target == "all-linear":
        return "all-linear"
    return BY_MODEL_TYPE.get(model_type, "all-linear")
