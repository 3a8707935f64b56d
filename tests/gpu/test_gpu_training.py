"""Training on CUDA for real: a bf16 LoRA run and a QLoRA run (bitsandbytes nf4 on the GPU, a paged optimizer).

The CPU suite proves the same stages in fp32; these prove the GPU paths the CPU cannot reach: bf16 autocast,
4-bit kernels on the device, optimizer paging, and the device-memory figures in the events.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.files import JobFiles
from tests.gpu.conftest import events, gpu_job, losses, run_job, said
from tests.helpers.learning import answer_loss

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


def merged_dtypes(job_dir: Path) -> set[str]:
    from safetensors import safe_open

    dtypes: set[str] = set()
    for file in JobFiles(job_dir).stage_dir("merge").glob("*.safetensors"):
        with safe_open(str(file), "pt") as fh:
            dtypes |= {str(fh.get_tensor(k).dtype) for k in fh.keys()}
    return dtypes


def test_a_bf16_lora_run_trains_on_the_gpu_learns_and_merges_in_bf16(tmp_path: Path, gpu_model: Path, gpu_data: Path):
    job_dir = run_job(gpu_job("gpu-lora", gpu_model, gpu_data, ["download", "sft", "merge"]), tmp_path)
    sft = events(job_dir, "sft")
    loss = losses(sft)
    assert len(loss) == 40 and loss[-1] < loss[0] - 0.5, loss
    peaks = [max(e["peak_memory_gb"]) for e in sft if e["kind"] == "metric" and e.get("peak_memory_gb")]
    assert peaks and max(peaks) > 0, "the events carry the GPU's memory figures"
    state = json.loads(JobFiles(job_dir).state.read_text())["stages"]
    assert state["merge"]["outputs"]["precision"] == "bf16"
    assert merged_dtypes(job_dir) == {"torch.bfloat16"}
    base, trained = answer_loss(gpu_model), answer_loss(JobFiles(job_dir).stage_dir("merge"))
    assert trained < base - 1.0, f"answer loss {base:.2f} → {trained:.2f}"


def test_qlora_trains_a_4bit_base_on_the_gpu_with_a_paged_optimizer(tmp_path: Path, gpu_model: Path, gpu_data: Path):
    import torch

    job = gpu_job("gpu-qlora", gpu_model, gpu_data, ["download", "sft", "merge"],
                  train={"method": "qlora", "optimizer": "paged_adamw_8bit"})
    torch.cuda.reset_peak_memory_stats()
    job_dir = run_job(job, tmp_path)
    sft = events(job_dir, "sft")
    text = said(sft)
    assert "base loaded 4bit" in text
    assert "nothing is paged" not in text, "on a GPU the paged optimizer pages for real"
    loss = losses(sft)
    assert len(loss) == 40 and loss[-1] < loss[0] - 0.5, loss
    merged = JobFiles(job_dir).stage_dir("merge")
    assert "quantization_config" not in json.loads((merged / "config.json").read_text()), "merged unquantised"
    assert merged_dtypes(job_dir) == {"torch.bfloat16"}
    base, trained = answer_loss(gpu_model), answer_loss(merged)
    assert trained < base - 1.0, f"answer loss {base:.2f} → {trained:.2f}"


def test_a_4bit_base_really_sits_on_the_gpu_in_bitsandbytes_layers(gpu_model: Path):
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(gpu_model, quantization_config=config, device_map={"": 0})
    kinds = {type(m).__name__ for m in model.modules()}
    assert "Linear4bit" in kinds
    assert all(p.device.type == "cuda" for p in model.parameters())
