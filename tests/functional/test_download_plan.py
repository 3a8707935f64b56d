"""`plan` says what the model is — from the catalogue, a local folder or the builtin list — before any download."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.jobs import write_job


def plan_download(cli, tmp_path: Path, model: dict) -> dict:
    job = write_job(tmp_path / "job.yaml", {"name": "p", "task": "sft", "stages": ["download"], "model": model,
                                            "dataset": {"sft": "unused.jsonl"}})
    result = cli("plan", str(job), "--json", cwd=tmp_path,
                 env={"YCDY_CACHE": str(tmp_path / "cache"), "MODELSCOPE_CACHE": str(tmp_path / "ms")})
    assert result.returncode == 0, result.stderr
    return next(s for s in json.loads(result.stdout)["stages"] if s["stage"] == "download")


@pytest.mark.parametrize(("model", "summary", "facts"), [
    ({"id": "Qwen/Qwen2.5-7B-Instruct"}, "download Qwen/Qwen2.5-7B-Instruct from modelscope",
     {"model": "Qwen2.5 7.61B (Qwen2ForCausalLM)", "chat_template": "chatml", "context": 32768, "download_gb": 15.2}),
    ({"id": "meta-llama/Llama-3.1-8B-Instruct", "hub": "modelscope"},
     "download LLM-Research/Meta-Llama-3.1-8B-Instruct from modelscope",
     {"model": "Llama 3 8.03B (LlamaForCausalLM)", "chat_template": "llama3", "license": "llama3.1"}),
    ({"id": "builtin/smollm2-135m-instruct", "hub": "builtin"}, "prepare the builtin model",
     {"model": "SmolLM2 135M (LlamaForCausalLM)", "download_gb": 0.0, "context": 8192}),
])
def test_plan_shows_the_catalogue_metadata_of_the_model(cli, tmp_path, model, summary, facts):
    stage = plan_download(cli, tmp_path, model)
    assert stage["summary"].startswith(summary)
    for key, value in facts.items():
        assert stage["estimate"][key] == value, key
    assert "lora" in stage["estimate"]["min_gpu_gb"] and "qlora" in stage["estimate"]["min_gpu_gb"]


def test_plan_resolves_a_local_folder_from_its_config(cli, tmp_path, tiny_model_session):
    stage = plan_download(cli, tmp_path, {"id": str(tiny_model_session), "hub": "local"})
    assert stage["estimate"]["model"].endswith("(LlamaForCausalLM)")
    assert stage["estimate"]["chat_template"] == "chatml" and stage["notes"] == []
