"""The estimator's arithmetic against published parameter counts and memory figures.

Config dicts are written out here as the models publish them in config.json; nothing is downloaded.
Published memory figures (LLaMA-Factory's hardware table, the QLoRA paper): a 7B model needs
about 16 GB for LoRA, 6 GB for 4-bit QLoRA and 120 GB for full bf16 mixed-precision with AdamW,
at short sequence lengths. We allow ±25%.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.shapes import count_params, lora_params, shape_of
from engine.sizing import Settings, fixes, judge_memory, memory

LLAMA2_7B = {
    "model_type": "llama", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
    "tie_word_embeddings": False, "torch_dtype": "float16",
}
QWEN2_7B = {
    "model_type": "qwen2", "vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944,
    "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16",
}
QWEN25_05B = {
    "model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864,
    "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "tie_word_embeddings": True,
}
MIXTRAL_8X7B = {
    "model_type": "mixtral", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "num_local_experts": 8, "num_experts_per_tok": 2, "tie_word_embeddings": False,
}
DEEPSEEK_V2_LITE = {
    "model_type": "deepseek_v2", "vocab_size": 102400, "hidden_size": 2048, "intermediate_size": 10944,
    "moe_intermediate_size": 1408, "num_hidden_layers": 27, "num_attention_heads": 16, "num_key_value_heads": 16,
    "n_routed_experts": 64, "n_shared_experts": 2, "num_experts_per_tok": 6, "first_k_dense_replace": 1,
    "q_lora_rank": None, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
}
GPT2 = {"model_type": "gpt2", "vocab_size": 50257, "n_embd": 768, "n_layer": 12, "n_head": 12}
LLAVA_LIKE = {"model_type": "llava", "text_config": dict(LLAMA2_7B), "vision_config": {"hidden_size": 1024}}


@pytest.mark.parametrize(
    ("config", "published"),
    [(LLAMA2_7B, 6.738e9), (QWEN2_7B, 7.616e9), (QWEN25_05B, 0.494e9), (MIXTRAL_8X7B, 46.7e9),
     (DEEPSEEK_V2_LITE, 15.7e9), (GPT2, 0.124e9), (LLAVA_LIKE, 6.738e9)],
    ids=["llama2-7b", "qwen2-7b", "qwen2.5-0.5b-tied", "mixtral-8x7b", "deepseek-v2-lite", "gpt2", "multimodal"],
)
def test_parameter_count_matches_the_published_size(config, published):
    assert count_params(shape_of(config)).total == pytest.approx(published, rel=0.01)


def test_tied_embeddings_have_no_separate_lm_head():
    tied = count_params(shape_of(QWEN25_05B))
    untied = count_params(shape_of({**QWEN25_05B, "tie_word_embeddings": False}))
    assert tied.lm_head == 0 and untied.total - tied.total == 151936 * 896


def test_a_config_without_sizes_is_refused_with_the_missing_key():
    with pytest.raises(ValueError, match="hidden_size"):
        shape_of({"model_type": "llama", "vocab_size": 10})


def test_lora_parameters_follow_rank_and_target_modules():
    s = shape_of(LLAMA2_7B)
    attention, unknown = lora_params(s, ["q_proj", "k_proj", "v_proj", "o_proj"], 8)
    assert attention == 4 * 8 * (4096 + 4096) * 32 and unknown == []
    everything, _ = lora_params(s, "all-linear", 8)
    assert everything == attention + 3 * 8 * (4096 + 11008) * 32
    assert lora_params(s, ["q_proj"], 16)[0] == 2 * lora_params(s, ["q_proj"], 8)[0]


def test_grouped_query_attention_makes_k_and_v_adapters_smaller():
    s = shape_of(QWEN2_7B)  # 4 KV heads of 128 for 28 query heads
    assert lora_params(s, ["k_proj"], 8)[0] == 8 * (3584 + 512) * 28
    assert lora_params(s, ["q_proj"], 8)[0] == 8 * (3584 + 3584) * 28


def test_unknown_target_names_are_reported():
    _, unknown = lora_params(shape_of(LLAMA2_7B), ["q_proj", "my_custom_proj"], 8)
    assert unknown == ["my_custom_proj"]


def gb(config: dict, **settings) -> float:
    return memory(shape_of(config), Settings(**settings)).total_gb


@pytest.mark.parametrize("config", [LLAMA2_7B, QWEN2_7B], ids=["llama2-7b", "qwen2-7b"])
def test_7b_lora_needs_about_16_gb(config):
    assert gb(config, method="lora", batch_size=1, max_length=256) == pytest.approx(16, rel=0.25)


def test_7b_lora_at_512_tokens_is_still_about_16_gb():
    assert gb(LLAMA2_7B, method="lora", batch_size=1, max_length=512) == pytest.approx(16, rel=0.25)


@pytest.mark.parametrize(("config", "length"), [(LLAMA2_7B, 512), (QWEN2_7B, 256)], ids=["llama2-7b", "qwen2-7b"])
def test_7b_qlora_needs_about_6_gb(config, length):
    # The QLoRA paper's setting (LLaMA-7B): batch 1, 512 tokens, gradient checkpointing on. Qwen2's
    # 152k-token vocabulary adds ~1 GB of logits at 512 tokens, so it is held to the figure at 256.
    need = gb(config, method="qlora", batch_size=1, max_length=length, gradient_checkpointing=True)
    assert need == pytest.approx(6, rel=0.25)


@pytest.mark.parametrize("config", [LLAMA2_7B, QWEN2_7B], ids=["llama2-7b", "qwen2-7b"])
def test_7b_full_bf16_with_adamw_needs_about_120_gb(config):
    assert gb(config, method="full", batch_size=1, max_length=512) == pytest.approx(120, rel=0.25)


def test_memory_orders_the_methods_qlora_lora_full():
    st = Settings(batch_size=2, max_length=1024)
    q, lo, f = (gb(LLAMA2_7B, **{**st.__dict__, "method": m}) for m in ("qlora", "lora", "full"))
    assert q < lo < f


def test_gradient_checkpointing_cuts_activations_and_they_grow_with_batch_and_length():
    s = shape_of(LLAMA2_7B)
    base = memory(s, Settings(batch_size=2, max_length=1024))
    assert base.activations_checkpointing_gb < base.activations_no_checkpointing_gb / 5
    double_batch = memory(s, Settings(batch_size=4, max_length=1024)).activations_gb
    double_length = memory(s, Settings(batch_size=2, max_length=2048)).activations_gb
    assert double_batch == pytest.approx(2 * base.activations_gb, rel=0.01)
    assert double_length == pytest.approx(2 * base.activations_gb, rel=0.01)
    with_gc = memory(s, Settings(batch_size=2, max_length=1024, gradient_checkpointing=True))
    assert with_gc.activations_gb == base.activations_checkpointing_gb
    assert with_gc.total_gb < base.total_gb


def test_breakdown_adds_up_to_the_total():
    est = memory(shape_of(QWEN2_7B), Settings(method="full", batch_size=2, max_length=512))
    assert sum(est.breakdown.values()) == pytest.approx(est.total_gb, abs=0.02)
    assert {"weights", "gradients", "optimizer", "activations", "framework"} <= set(est.breakdown)


def test_8bit_paged_adamw_keeps_a_quarter_of_the_optimizer_state():
    s = shape_of(LLAMA2_7B)
    plain = memory(s, Settings(method="full")).breakdown["optimizer"]
    paged = memory(s, Settings(method="full", optimizer="paged_adamw_8bit")).breakdown["optimizer"]
    assert paged == pytest.approx(plain / 4, rel=0.05)


def test_ddp_keeps_a_whole_copy_on_each_device_and_fsdp_shards_it():
    s = shape_of(LLAMA2_7B)
    one = memory(s, Settings(method="full"))
    ddp = memory(s, Settings(method="full", devices=8, strategy="ddp"))
    fsdp = memory(s, Settings(method="full", devices=8, strategy="fsdp"))
    assert ddp.breakdown["weights"] == one.breakdown["weights"] and ddp.total_gb > one.total_gb
    assert fsdp.breakdown["optimizer"] == pytest.approx(one.breakdown["optimizer"] / 8, rel=0.01)
    assert fsdp.total_gb < one.total_gb / 4


def test_cpu_processes_share_one_ram():
    s = shape_of(QWEN25_05B)
    one = memory(s, Settings(accelerator="cpu", precision="fp32"))
    two = memory(s, Settings(accelerator="cpu", precision="fp32", devices=2, strategy="ddp"))
    assert two.total_gb > 2 * one.total_gb * 0.99 and two.per.startswith("machine")


def test_a_7b_lora_job_at_2048_tokens_will_not_fit_24_gb_and_each_fix_really_fits():
    s = shape_of(LLAMA2_7B)
    st = Settings(method="lora", batch_size=4, max_length=2048)
    verdict = judge_memory(s, st, memory(s, st), 24.0)
    assert verdict.level == "will not fit"
    assert "24.0 GB available" in verdict.message and "try" in verdict.message
    assert any("gradient_checkpointing" in f for f in verdict.fixes)
    checks = {
        "train.gradient_checkpointing: true": replace(st, gradient_checkpointing=True),
        "train.method: qlora": replace(st, method="qlora"),
    }
    for fix in verdict.fixes:
        for label, candidate in checks.items():
            if fix.startswith(label):
                assert memory(s, candidate).total_gb <= 24.0


def test_when_no_single_change_is_enough_the_fix_stacks_changes_that_fit():
    s = shape_of(LLAMA2_7B)
    found = fixes(s, Settings(method="lora", batch_size=8, max_length=4096), 12.0)
    assert len(found) == 1 and "train.method: qlora" in found[0] and "+" in found[0]
    hopeless = fixes(s, Settings(method="lora"), 2.0)
    assert "smaller model" in hopeless[0]


def test_verdict_is_tight_above_85_percent_and_fits_below():
    s = shape_of(QWEN25_05B)
    st = Settings(method="lora", batch_size=1, max_length=512)
    need = memory(s, st).total_gb
    assert judge_memory(s, st, memory(s, st), need / 0.9).level == "tight"
    assert judge_memory(s, st, memory(s, st), need / 0.5).level == "fits"
    assert judge_memory(s, st, memory(s, st), 0.0).level == "unknown"
