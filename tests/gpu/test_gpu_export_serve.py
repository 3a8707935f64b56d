"""AWQ on CUDA for real: the export is calibrated on the GPU, reloads into compressed 4-bit layers that run on
the GPU (not decompressed to dense weights, as the CPU path does), keeps what the model learned, and vLLM
serves it through the engine's own `serve --backend vllm` (skipped where vllm does not import)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.files import EXPORT_REPORT, JobFiles
from engine.serve.vllm import vllm_available
from tests.conftest import ROOT
from tests.gpu.conftest import events, gpu_job, run_job
from tests.helpers.learning import greedy_answer, loaded_answer_loss
from tests.helpers.serving import QUIET_ENV, free_port, terminate

pytestmark = [pytest.mark.gpu, pytest.mark.slow]
KEY = "sk-gpu-export-31c9"


@pytest.fixture(scope="module")
def job_dir(tmp_path_factory: pytest.TempPathFactory, gpu_model: Path, gpu_data: Path) -> Path:
    # Full fine-tuning learns the toy task outright (loss 6.3 → 0.02 in 60 steps on the CPU), so the greedy
    # answer is the trained one and a quantised copy that still says it has kept what was learned.
    job = gpu_job("gpu-awq", gpu_model, gpu_data, ["download", "sft", "export"],
                  train={"method": "full", "max_steps": 60, "learning_rate": 0.001},
                  export={"method": "awq", "calibration_samples": 32, "calibration_max_length": 64})
    return run_job(job, tmp_path_factory.mktemp("gpu-export"))


def test_the_export_was_calibrated_on_the_gpu_and_passed_its_gate(job_dir: Path):
    text = "\n".join(e.get("message", "") for e in events(job_dir, "export") if e["kind"] == "log")
    assert "(bf16, cuda)" in text, text
    report = json.loads((JobFiles(job_dir).stage_dir("export") / EXPORT_REPORT).read_text())
    assert report["quality"]["passed"] is True
    assert report["size"]["compression_ratio"] > 1.5


def test_the_awq_export_reloads_into_compressed_gpu_layers_and_keeps_what_was_learned(job_dir: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    export, trained = JobFiles(job_dir).stage_dir("export"), JobFiles(job_dir).stage_dir("sft")
    tok = AutoTokenizer.from_pretrained(export)
    quantised = AutoModelForCausalLM.from_pretrained(export, device_map={"": 0})
    names = {n for n, _ in quantised.named_parameters()} | {n for n, _ in quantised.named_buffers()}
    assert any(n.endswith("weight_packed") for n in names), "the 4-bit weights were decompressed on load"
    assert {p.device.type for p in quantised.parameters()} == {"cuda"}
    reference = AutoModelForCausalLM.from_pretrained(trained, dtype=torch.bfloat16, device_map={"": 0})
    q_loss, r_loss = loaded_answer_loss(quantised, tok), loaded_answer_loss(reference, tok)
    # the untrained model scores about 6.3 here; rounding to 4 bits may cost a little, never the learning
    assert q_loss < r_loss + 0.7, f"answer loss {r_loss:.3f} (trained) → {q_loss:.3f} (4-bit on the GPU)"
    assert greedy_answer(reference, tok, "Say the color red.") == "The color is red."
    assert greedy_answer(quantised, tok, "Say the color red.") == "The color is red."


@pytest.mark.skipif(not vllm_available(), reason="vllm is not installed here (pip install vllm on a GPU machine)")
def test_vllm_serves_the_export_through_the_engine_and_answers_as_it_was_trained(job_dir: Path, tmp_path: Path):
    import openai

    export = JobFiles(job_dir).stage_dir("export")
    port = free_port()
    log = tmp_path / "vllm.log"
    env = {**os.environ, **QUIET_ENV, "PYTHONPATH": str(ROOT), "YCDY_API_KEY": KEY}
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "engine", "serve", str(export), "--backend", "vllm",
                                 "--port", str(port), "--served-model-name", "awq", "--start-timeout", "500"],
                                stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=60)
    try:
        deadline = time.monotonic() + 540
        while True:
            assert proc.poll() is None, f"serve exited {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}"
            try:
                models = [m.id for m in client.models.list()]
                break
            except openai.APIConnectionError:
                assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
                time.sleep(2)
        assert models == ["awq"]
        reply = client.chat.completions.create(model="awq", messages=[{"role": "user", "content": "Say the color red."}],
                                               max_tokens=12, temperature=0)
        assert "red" in reply.choices[0].message.content, reply.choices[0].message.content
        assert reply.usage.completion_tokens > 0
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0).models.list()
    finally:
        terminate(proc, grace=30)
