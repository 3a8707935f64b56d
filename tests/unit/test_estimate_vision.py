"""The estimator on a vision-language model: the vision tower counted, image tokens per row said, the same verdict.

Config.json files alone (a Qwen2-VL-7B shape, and the same language model without its vision side).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from engine.estimate import ENV_DISK, ENV_MEMORY, for_job, image_tokens, summary_lines
from engine.hardware import Gpu, Hardware
from engine.spec import JobSpec

QWEN2_VL_7B = {
    "architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl", "image_token_id": 151655,
    "text_config": {"model_type": "qwen2_vl_text", "hidden_size": 3584, "intermediate_size": 18944,
                    "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
                    "vocab_size": 152064, "max_position_embeddings": 32768, "tie_word_embeddings": False},
    "vision_config": {"depth": 32, "embed_dim": 1280, "hidden_size": 3584, "mlp_ratio": 4, "num_heads": 16,
                      "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3},
}
LLAVA = {"model_type": "llava", "image_seq_length": 576,
         "text_config": {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "vocab_size": 32064},
         "vision_config": {"model_type": "clip_vision_model", "hidden_size": 1024, "image_size": 336,
                           "patch_size": 14}}


@pytest.fixture(autouse=True)
def no_overrides(monkeypatch):
    monkeypatch.delenv(ENV_MEMORY, raising=False)
    monkeypatch.delenv(ENV_DISK, raising=False)


def text_only(config: dict) -> dict:
    """The same language model as a plain causal LM (no vision tower, no projector)."""
    text = copy.deepcopy(config["text_config"])
    return {**text, "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]}


def estimate(tmp_path: Path, config: dict, **dataset):
    folder = tmp_path / config["model_type"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    spec = JobSpec.model_validate({
        "name": "est", "task": "sft", "stages": ["download", "sft", "merge"],
        "model": {"id": str(folder), "hub": "local"}, "dataset": {"sft": "data.jsonl", **dataset},
        "train": {"batch_size": 1, "max_length": 2048},
    })
    hw = Hardware(gpus=[Gpu(0, "test GPU", 24.0, True)], cpu_cores=16, ram_gb=128, disk_free_gb=2000.0,
                  disk_path="/jobs")
    est = for_job(spec, tmp_path / "jobs" / "est", hw)
    assert not isinstance(est, str), est
    return est


def test_image_tokens_per_image_by_family():
    assert image_tokens(QWEN2_VL_7B, 1024 * 1024) == 1024 * 1024 // (28 * 28)  # area over the merged patch
    assert image_tokens(LLAVA, 1024 * 1024) == 576  # a fixed-size encoder says it in config.json
    assert image_tokens(QWEN2_VL_7B["text_config"], 1024 * 1024) == 0  # a text model


def test_a_vlm_costs_its_vision_tower_more_than_its_language_model_and_gets_a_verdict(tmp_path):
    vlm = estimate(tmp_path, QWEN2_VL_7B, max_image_pixels=1024 * 1024)
    text = estimate(tmp_path / "text", text_only(QWEN2_VL_7B))
    assert vlm.params.vision > 500e6, "Qwen2-VL's ViT is ~0.6 B parameters"
    assert vlm.memory.total_gb > text.memory.total_gb + 1.0, "frozen 16-bit tower weights are in the estimate"
    assert vlm.memory.trainable_params == text.memory.trainable_params, "LoRA trains the language model only"
    assert vlm.verdict.level in ("fits", "tight", "will not fit")
    lines = "\n".join(summary_lines(vlm))
    assert "1337 of them an image's" in lines and "image" not in "\n".join(summary_lines(text))


def test_images_larger_than_max_length_are_named_with_the_fields_to_change(tmp_path):
    big = estimate(tmp_path, QWEN2_VL_7B, max_image_pixels=2048 * 2048)
    assert any("train.max_length" in n and "dataset.max_image_pixels" in n for n in big.notes)
    small = estimate(tmp_path / "small", QWEN2_VL_7B, max_image_pixels=512 * 512)
    assert not any("dataset.max_image_pixels" in n for n in small.notes)
