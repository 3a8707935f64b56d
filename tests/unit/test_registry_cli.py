"""`python -m engine models`: the catalogue as an operator reads it."""

from __future__ import annotations

import json

from engine.cli import main


def test_models_search_qwen_lists_the_qwen_entries_with_sizes_and_memory(capsys):
    assert main(["models", "--search", "qwen"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if "/" in line and not line.startswith("--")]
    assert rows and all("qwen" in line.lower() for line in rows)
    seven = next(line for line in rows if line.startswith("Qwen/Qwen2.5-7B-Instruct "))
    assert "7.61B" in seven and "qlora" in seven and "lora" in seven and "full" in seven
    assert "Qwen/Qwen2-VL-7B-Instruct" in out and "[images + text]" in out
    assert "Llama" not in out


def test_models_json_carries_what_the_wizard_needs(capsys):
    assert main(["models", "--search", "smollm2 135m", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    builtin = next(d for d in data if d["id"] == "builtin/smollm2-135m-instruct")
    assert builtin["hub"] == "builtin" and builtin["huggingface_id"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert builtin["min_gpu_gb"]["lora"] > 0 and builtin["chat_template"] == "chatml"


def test_models_show_describes_a_local_folder(capsys, tiny_model_session):
    assert main(["models", "--show", str(tiny_model_session)]) == 0
    assert json.loads(capsys.readouterr().out)["architecture"] == "LlamaForCausalLM"


def test_models_search_without_a_match_is_a_user_error(capsys):
    assert main(["models", "--search", "zzzz-no-such"]) == 2
    assert "no catalogue entry matches" in capsys.readouterr().err

