"""Vision-language models in the registry: catalogue entries, telling a VLM from a text model, the seed's
remote-code InternVL IDs, the estimator counting the vision tower, and LoRA targets scoped to the language model."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.errors import UserError
from engine.registry import entries, is_vision_model, lookup, model_config, search
from engine.registry.resolver import known
from engine.registry.targets import language_only, vision_part
from engine.registry.vision import native_internvl, remote_code_vlm
from engine.render import load_job
from engine.shapes import count_params, shape_of, vision_params
from tests.helpers.jobs import write_job, write_jsonl

VISION_FAMILIES = {"Qwen2-VL", "Qwen2.5-VL", "Qwen3-VL", "InternVL", "LLaVA", "Gemma 3", "SmolVLM",
                   "Llama 3.2 Vision", "Mistral 3"}
SEED_IDS = ["internvl/internvl-chat-8b-v1-5", "OpenGVLab/InternVL2_5-8B", "OpenGVLab/InternVL3-8B",
            "OpenGVLab/InternVL2-26B", "OpenGVLab/Mini-InternVL-Chat-2B-V1-5"]


def _vision() -> list:
    return [e for e in entries() if e.modality == "vision"]


def test_vision_families_are_ready_loadable_natively_and_count_their_vision_tower():
    assert {e.family for e in _vision()} == VISION_FAMILIES
    multimodal = known()["multimodal"]
    for e in _vision():
        assert e.status == "ready" and not e.trust_remote_code, e.id
        assert e.model_type in multimodal, f"{e.id}: {e.model_type} is not an AutoModelForImageTextToText type"
        assert e.huggingface_id and e.license and e.vision_b and 0 < e.vision_b < e.params_b, e.id
        config = model_config(e.id)
        with_vision = count_params(shape_of(config)).total
        without = count_params(shape_of({k: v for k, v in config.items() if k != "vision_params"})).total
        assert with_vision - without == int(e.vision_b * 1e9), e.id
        assert abs(with_vision / (e.params_b * 1e9) - 1) < 0.05, f"{e.id}: {with_vision / 1e9:.2f}B"
    assert lookup("google/gemma-3-1b-it").modality == "text"  # the 1B Gemma 3 reads no images


def test_memory_per_method_includes_the_frozen_vision_tower():
    from engine.registry.info import ModelInfo

    e = lookup("Qwen/Qwen2-VL-7B-Instruct")
    text_only = ModelInfo(id="x/text-part", model_type=e.model_type, params_b=e.params_b, shape=e.shape,
                          lora_targets=e.lora_targets)
    mem, bare = e.min_gpu_gb(), text_only.min_gpu_gb()
    for method in ("lora", "qlora"):  # 0.67B at 2 bytes ≈ 1.25 GB more
        assert 1.0 <= mem[method] - bare[method] <= 1.6, method
    assert mem["full"] > bare["full"]


def test_models_search_vl_lists_the_vision_language_models_only(tmp_path, cli):
    found = {e.id for e in search("vl")}
    assert {"Qwen/Qwen2-VL-7B-Instruct", "OpenGVLab/InternVL3-8B-hf", "llava-hf/llava-1.5-7b-hf",
            "google/gemma-3-4b-it", "HuggingFaceTB/SmolVLM-256M-Instruct",
            "meta-llama/Llama-3.2-11B-Vision-Instruct", "mistralai/Mistral-Small-3.1-24B-Instruct-2503"} <= found
    assert all(lookup(i).modality == "vision" for i in found)
    result = cli("models", "--search", "vl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "OpenGVLab/InternVL3-8B-hf" in result.stdout and "images + text" in result.stdout
    assert "Qwen/Qwen2.5-7B-Instruct " not in result.stdout


def test_is_vision_model_reads_ids_entries_job_sections_and_config_files(tmp_path):
    assert is_vision_model("Qwen/Qwen2.5-VL-7B-Instruct") and is_vision_model(lookup("llava-hf/llava-1.5-7b-hf"))
    assert not is_vision_model("Qwen/Qwen2.5-7B-Instruct") and not is_vision_model("nobody/unknown-model")
    assert is_vision_model(SimpleNamespace(id="OpenGVLab/InternVL3-2B-hf", hub="huggingface"))
    assert is_vision_model("OpenGVLab/InternVL2_5-8B")  # remote code, but it reads images
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    assert not is_vision_model(folder) and not is_vision_model(SimpleNamespace(id=str(folder), hub="local"))
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen2_vl", "vision_config": {"depth": 2}}))
    assert is_vision_model(folder) and is_vision_model(str(folder))


# --- the seed's remote-code InternVL IDs ---------------------------------------------------------------

def _job(tmp_path: Path, model: dict) -> Path:
    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": [{"role": "user", "content": "hi"},
                                                           {"role": "assistant", "content": "hello"}]}] * 4)
    job = {"name": "seed", "task": "sft", "stages": ["download", "sft", "merge"], "model": model,
           "dataset": {"sft": str(data)}}
    return write_job(tmp_path / "job.yaml", job)


@pytest.mark.parametrize("model_id", SEED_IDS)
def test_the_seeds_internvl_ids_get_one_line_naming_the_native_checkpoint(tmp_path, model_id):
    with pytest.raises(UserError) as caught:
        load_job(_job(tmp_path, {"id": model_id, "hub": "huggingface"}))
    lines = caught.value.lines
    mine = [line for line in lines if "remote-code InternVL" in line]
    assert len(mine) == 1 and "job.yaml:" in mine[0], lines
    assert model_id in mine[0] and "OpenGVLab/InternVL3-" in mine[0] and "-hf" in mine[0]
    assert not [line for line in lines if "trust_remote_code" in line and line is not mine[0]]


def test_native_internvl_is_the_nearest_size_and_in_the_catalogue_where_it_can_be():
    assert native_internvl("internvl/internvl-chat-8b-v1-5") == "OpenGVLab/InternVL3-8B-hf"
    assert native_internvl("OpenGVLab/Mini-InternVL-Chat-2B-V1-5") == "OpenGVLab/InternVL3-2B-hf"
    assert native_internvl("OpenGVLab/InternVL2_5-1B") == "OpenGVLab/InternVL3-1B-hf"
    assert native_internvl("OpenGVLab/InternVL2-26B") == "OpenGVLab/InternVL3-14B-hf"
    assert native_internvl("OpenGVLab/InternVL-Chat-V1-5") == "OpenGVLab/InternVL3-8B-hf"
    line = remote_code_vlm("OpenGVLab/InternVL3-8B")
    assert "OpenGVLab/InternVL3-8B-hf" in line and "python -m engine models --search internvl" in line
    assert remote_code_vlm("OpenGVLab/InternVL3-8B-hf") is None and remote_code_vlm("OpenGVLab/InternVL3_5-8B-HF") is None
    assert remote_code_vlm("OpenGVLab/InternViT-300M-448px") is None and remote_code_vlm("Qwen/Qwen2-VL-7B-Instruct") is None


def test_native_vision_models_pass_validate(tmp_path):
    for model_id in ("OpenGVLab/InternVL3-8B-hf", "Qwen/Qwen2.5-VL-7B-Instruct", "llava-hf/llava-1.5-7b-hf"):
        spec = load_job(_job(tmp_path, {"id": model_id, "hub": "huggingface"}))
        assert spec.model.id == model_id


def test_a_local_remote_code_internvl_folder_gets_the_same_line(tmp_path):
    folder = tmp_path / "InternVL2_5-8B"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "internvl_chat", "architectures": ["InternVLChatModel"],
        "auto_map": {"AutoModel": "modeling_internvl_chat.InternVLChatModel"},
        "llm_config": {"model_type": "internlm2", "hidden_size": 4096}, "vision_config": {"hidden_size": 1024}}))
    with pytest.raises(UserError) as caught:
        load_job(_job(tmp_path, {"id": str(folder), "hub": "local"}))
    text = "\n".join(caught.value.lines)
    assert text.count("remote-code InternVL") == 1 and "OpenGVLab/InternVL3-8B-hf" in text


# --- the estimator counts the vision tower -------------------------------------------------------------

LLAVA_15_7B = {
    "model_type": "llava", "projector_hidden_act": "gelu",
    "text_config": {"model_type": "llama", "vocab_size": 32064, "hidden_size": 4096, "intermediate_size": 11008,
                    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32},
    "vision_config": {"model_type": "clip_vision_model", "hidden_size": 1024, "intermediate_size": 4096,
                      "num_hidden_layers": 24, "num_attention_heads": 16, "image_size": 336, "patch_size": 14},
}
QWEN2_VL_7B_VISION = {"depth": 32, "embed_dim": 1280, "hidden_size": 3584, "mlp_ratio": 4, "num_heads": 16,
                      "in_chans": 3, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}


def test_the_estimator_counts_a_vlms_vision_tower_and_projector():
    total = count_params(shape_of(LLAVA_15_7B)).total
    assert total == pytest.approx(7.06e9, rel=0.01)  # llava-hf/llava-1.5-7b-hf's published size
    text = count_params(shape_of(LLAVA_15_7B["text_config"])).total
    assert total - text == vision_params(LLAVA_15_7B) and vision_params(LLAVA_15_7B) == pytest.approx(0.32e9, rel=0.05)
    qwen = {"model_type": "qwen2_vl", "vision_config": QWEN2_VL_7B_VISION, "hidden_size": 3584}
    assert vision_params(qwen) == pytest.approx(0.675e9, rel=0.03)  # Qwen2-VL-7B's 675M vision part
    assert vision_params({"model_type": "llama", "hidden_size": 4096}) == 0
    counted = count_params(shape_of(LLAVA_15_7B))
    assert counted.linear == count_params(shape_of(LLAVA_15_7B["text_config"])).linear  # 4-bit packs no vision


# --- LoRA targets never land in the vision tower -------------------------------------------------------

LANGUAGE = ["model.language_model.layers.0.self_attn.q_proj", "model.language_model.layers.3.mlp.down_proj",
            "model.text_model.layers.1.self_attn.v_proj", "model.language_model.layers.0.cross_attn.k_proj"]
VISION = ["model.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj", "model.visual.blocks.0.attn.qkv",
          "model.vision_tower.encoder.layer.0.attention.q_proj", "model.vision_model.encoder.layers.0.self_attn.v_proj",
          "model.multi_modal_projector.linear_1", "model.visual.merger.mlp.0", "model.connector.modality_projection.proj",
          "lm_head"]


def test_language_only_targets_match_the_language_model_and_nothing_of_the_vision_side():
    pattern = re.compile(language_only("all-linear", "llava"))
    assert all(pattern.fullmatch(n) for n in LANGUAGE)
    assert not any(pattern.fullmatch(n) for n in VISION)
    attention = re.compile(language_only("auto", "qwen2_vl"))
    assert attention.fullmatch(LANGUAGE[0]) and not attention.fullmatch(LANGUAGE[1])
    assert re.compile(language_only(["v_proj"], "qwen2_vl")).fullmatch(LANGUAGE[2])


def test_vision_part_names_the_tower_and_the_projector():
    assert [vision_part(n) for n in VISION[:4]] == ["tower"] * 4
    assert [vision_part(n) for n in VISION[4:7]] == ["projector"] * 3
    assert vision_part("model.image_newline") == "projector" and vision_part("lm_head.weight") is None
    assert all(vision_part(n) is None for n in LANGUAGE)


def test_a_local_vision_model_with_its_own_code_is_refused_in_one_line(tmp_path):
    folder = tmp_path / "minicpm-v"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "minicpmv", "architectures": ["MiniCPMV"], "auto_map": {"AutoModel": "modeling_minicpmv.MiniCPMV"},
        "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 128,
        "vision_config": {"hidden_size": 32, "num_hidden_layers": 2}}))
    (folder / "chat_template.jinja").write_text("{{ messages }}")
    for trust in (False, True):
        with pytest.raises(UserError) as caught:
            load_job(_job(tmp_path, {"id": str(folder), "hub": "local", "trust_remote_code": trust}))
        lines = caught.value.lines
        assert len(lines) == 1 and "ships its own Python code" in lines[0] and "--search vl" in lines[0], lines
