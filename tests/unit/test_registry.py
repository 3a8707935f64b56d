"""The model catalogue, the generic resolver and the checks validate runs on a job's model."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from engine.errors import UserError
from engine.registry import entries, lookup, model_config, resolve_local, search
from engine.registry.hubs import RemoteFile
from engine.registry.hubs.files import select
from engine.registry.info import shape_params_b
from engine.registry.resolver import ARCHITECTURES, template_kind
from engine.render import load_job
from tests.helpers.jobs import write_job, write_jsonl

FAMILIES = ["Qwen2.5", "Qwen3", "Llama 3", "Mistral", "Gemma 2", "Gemma 3", "GLM-4", "InternLM 3",
            "DeepSeek-R1-Distill", "Phi", "Yi 1.5", "Baichuan 2", "SmolLM2", "Qwen2-VL", "Qwen2.5-VL", "InternVL"]


def test_the_catalogue_covers_every_family_the_issue_names_with_unique_ids():
    found = {e.family for e in entries()}
    assert set(FAMILIES) <= found
    ids = [e.id.lower() for e in entries()]
    assert len(ids) == len(set(ids))
    qwen = {e.params_b for e in entries() if e.family in ("Qwen2.5", "Qwen3")}
    assert min(qwen) <= 0.6 and max(qwen) >= 72


def test_every_shape_in_the_catalogue_adds_up_to_the_stated_parameter_count():
    for e in entries():
        counted = shape_params_b(e)
        language = e.params_b - (e.vision_b or 0.0)
        assert counted is not None and abs(counted / language - 1) < 0.05, f"{e.id}: shape gives {counted:.2f}B"


def test_memory_figures_come_from_the_estimator_and_order_qlora_lora_full():
    for e in entries():
        mem = e.min_gpu_gb()
        assert set(mem) == {"lora", "qlora", "full"}, e.id
        assert mem["qlora"] < mem["lora"] < mem["full"], e.id
    seven = lookup("Qwen/Qwen2.5-7B-Instruct").min_gpu_gb()
    assert 12 < seven["lora"] < 25 and 5 < seven["qlora"] < 12 and seven["full"] > 100


def test_multimodal_families_are_ready_and_marked_vision():
    vision = {e.family for e in entries() if e.modality == "vision"}
    assert {"Qwen2-VL", "Qwen2.5-VL", "InternVL"} <= vision
    assert all(e.status == "ready" for e in entries() if e.modality == "vision")


def test_lookup_finds_a_model_by_either_hubs_id_in_any_case():
    by_hf = lookup("meta-llama/Llama-3.1-8B-Instruct")
    assert by_hf is lookup("llm-research/meta-llama-3.1-8b-instruct")
    assert by_hf.modelscope_id == "LLM-Research/Meta-Llama-3.1-8B-Instruct" and by_hf.gated == ("huggingface",)
    assert lookup("builtin/smollm2-135m-instruct", "builtin").hub == "builtin"
    assert lookup("builtin/smollm2-135m-instruct", "modelscope") is None
    assert lookup("nobody/nothing") is None


def test_search_matches_every_word_and_sizes_as_whole_tokens():
    qwen = search("qwen")
    assert qwen and all("qwen" in (e.id + e.family).lower() for e in qwen)
    sevens = [e.id for e in search("qwen 7b")]
    assert "Qwen/Qwen2.5-7B-Instruct" in sevens and "Qwen/Qwen3-1.7B" not in sevens
    assert all(e.status == "ready" for e in search("qwen", include_coming=False))


def test_model_config_gives_the_estimator_a_config_shaped_dict():
    config = model_config("Qwen/Qwen2.5-7B-Instruct")
    assert config["model_type"] == "qwen2" and config["hidden_size"] == 3584 and config["num_hidden_layers"] == 28
    assert model_config("nobody/nothing") is None


def test_the_architecture_list_matches_the_installed_transformers():
    import transformers
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES,
    )

    data = json.loads(ARCHITECTURES.read_text())
    assert data["transformers"] == transformers.__version__, "regenerate engine/registry/architectures.json"
    assert data["causal_lm"] == dict(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
    assert data["multimodal"] == dict(MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES)


def test_resolve_local_reads_the_tiny_model_exactly(tiny_model_session: Path):
    info = resolve_local(tiny_model_session)
    config = json.loads((tiny_model_session / "config.json").read_text())
    assert info.architecture == "LlamaForCausalLM" and info.model_type == "llama"
    assert info.chat_template == "chatml" and info.context_length == config["max_position_embeddings"]
    assert info.lora_targets == ("q_proj", "k_proj", "v_proj", "o_proj") and not info.trust_remote_code
    from safetensors import safe_open

    with safe_open(tiny_model_session / "model.safetensors", "pt") as fh:
        exact = sum(math.prod(fh.get_slice(k).get_shape()) for k in fh.keys())
    assert round(exact / 1e9, 4) == info.params_b


@pytest.mark.parametrize(("text", "kind"), [
    ("<|im_start|>user\n{{ m }}<|im_end|>", "chatml"),
    ("<|start_header_id|>user<|end_header_id|>", "llama3"),
    ("[INST] {{ m }} [/INST]", "mistral"),
    ("<start_of_turn>user", "gemma"),
    ("<|im_start|>{{ '<think>' }}", "qwen3"),
    ("<｜User｜>{{ m }}<｜Assistant｜><think>", "deepseek-r1"),
    ("{{ m }}", "custom"),
    (None, None),
])
def test_chat_template_kinds_are_recognised_by_their_markers(text, kind):
    assert template_kind(text) == kind


def test_file_selection_takes_one_weight_format_and_skips_copies():
    names = ["config.json", "tokenizer.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
             "model.safetensors.index.json", "consolidated.safetensors", "pytorch_model.bin", "model.gguf",
             "onnx/model.onnx", "original/consolidated.00.pth", "README.md", "flax_model.msgpack"]
    chosen = [f.path for f in select([RemoteFile(n, 1) for n in names])]
    assert chosen == sorted(["config.json", "tokenizer.json", "model-00001-of-00002.safetensors",
                             "model-00002-of-00002.safetensors", "model.safetensors.index.json", "README.md"])
    bins = [f.path for f in select([RemoteFile(n, 1) for n in ("config.json", "pytorch_model.bin", "model.gguf")])]
    assert bins == ["config.json", "pytorch_model.bin"]


# --- validate refuses what the model cannot do --------------------------------------------------

def _job(tmp_path: Path, model: dict, **extra) -> Path:
    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": [{"role": "user", "content": "hi"},
                                                           {"role": "assistant", "content": "hello"}]}] * 4)
    job = {"name": "check", "task": "sft", "stages": ["download", "sft", "merge"], "model": model,
           "dataset": {"sft": str(data)}, **extra}
    return write_job(tmp_path / "job.yaml", job)


def _errors(path: Path) -> str:
    with pytest.raises(UserError) as caught:
        load_job(path)
    return "\n".join(caught.value.lines)


def test_validate_accepts_a_catalogued_vision_language_model(tmp_path):
    assert load_job(_job(tmp_path, {"id": "Qwen/Qwen2.5-VL-7B-Instruct"})).model.id == "Qwen/Qwen2.5-VL-7B-Instruct"


def test_validate_asks_for_trust_remote_code_when_the_model_ships_code(tmp_path, tiny_model: Path):
    text = _errors(_job(tmp_path, {"id": "internlm/internlm3-8b-instruct", "hub": "huggingface"}))
    assert "model.trust_remote_code" in text
    config = json.loads((tiny_model / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_x.XForCausalLM"}
    (tiny_model / "config.json").write_text(json.dumps(config))
    assert "model.trust_remote_code" in _errors(_job(tmp_path, {"id": str(tiny_model), "hub": "local"}))
    load_job(_job(tmp_path, {"id": str(tiny_model), "hub": "local", "trust_remote_code": True}))


def test_validate_refuses_an_architecture_transformers_cannot_load(tmp_path, tiny_model: Path):
    config = json.loads((tiny_model / "config.json").read_text())
    config.update(model_type="wonderlm", architectures=["WonderLMForCausalLM"])
    (tiny_model / "config.json").write_text(json.dumps(config))
    text = _errors(_job(tmp_path, {"id": str(tiny_model), "hub": "local"}))
    assert "WonderLMForCausalLM" in text and "not one that transformers" in text


def test_validate_refuses_a_model_without_a_chat_template_for_a_chat_job(tmp_path, tiny_model: Path):
    (tiny_model / "chat_template.jinja").unlink()
    tok = json.loads((tiny_model / "tokenizer_config.json").read_text())
    tok.pop("chat_template", None)
    (tiny_model / "tokenizer_config.json").write_text(json.dumps(tok))
    text = _errors(_job(tmp_path, {"id": str(tiny_model), "hub": "local"}))
    assert "has no chat template" in text and "sft stage" in text
    load_job(_job(tmp_path, {"id": str(tiny_model), "hub": "local"}, stages=["download"]))  # no chat: fine


def test_validate_names_the_builtin_models_for_an_unknown_one(tmp_path):
    text = _errors(_job(tmp_path, {"id": "builtin/gpt-17", "hub": "builtin"}))
    assert "builtin/smollm2-135m-instruct" in text


def test_a_relative_local_folder_is_checked_against_the_job_files_folder(tmp_path, tiny_model_session: Path):
    shutil.copytree(tiny_model_session, tmp_path / "m")
    spec = load_job(_job(tmp_path, {"id": "m", "hub": "local"}))
    assert spec.model.id == str(tmp_path / "m")
