"""SFT methods end to end on the tiny model (in this process, through `engine run`): QLoRA on a 4-bit
base that is evaluated mid-run and trained again, and full fine-tuning of a model whose chat
template had no assistant markers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.hardware import detect
from tests.helpers.jobs import tiny_job, write_job
from tests.helpers.learning import answer_loss
from tests.unit.test_train_template import SMOLLM2

pytestmark = pytest.mark.slow  # every test here trains the tiny model
DTYPES = {"fp32": "torch.float32", "bf16": "torch.bfloat16", "fp16": "torch.float16"}


def run_job(job: dict, tmp_path: Path) -> tuple[int, Path]:
    job_file = write_job(tmp_path / f"{job['name']}.yaml", job)
    code = main(["run", str(job_file), "--jobs-dir", str(tmp_path / "jobs")])
    return code, tmp_path / "jobs" / job["name"]


def events_of(job_dir: Path, stage: str) -> list[dict]:
    lines = (job_dir / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["stage"] == stage]


def logs(events: list[dict]) -> str:
    return "\n".join(e["message"] for e in events if e["kind"] == "log")


def test_qlora_trains_evaluates_and_trains_again_then_merges_onto_the_full_precision_base(tmp_path: Path,
                                                                                           toy_data: Path):
    from engine.tiny import build_tiny_model

    # hidden 48: the k/v projections are 24 wide, not a multiple of 32 — the shape that bitsandbytes'
    # AVX512-BF16 repacking breaks after the first evaluation unless it is switched off
    model_dir = build_tiny_model(tmp_path / "odd-widths", hidden=48)
    job = tiny_job(model_dir, toy_data, name="qlora",
                   train={"method": "qlora", "max_steps": 6, "save_steps": 3, "optimizer": "paged_adamw_8bit"},
                   dataset={"sft": str(toy_data), "val_ratio": 0.1})
    code, job_dir = run_job(job, tmp_path)
    assert code == 0
    events = events_of(job_dir, "sft")
    losses = [e["loss"] for e in events if e["kind"] == "metric" and "loss" in e]
    evals = [e["step"] for e in events if e["kind"] == "metric" and "eval_loss" in e]
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert evals == [3, 6], "evaluated after step 3, then trained on and evaluated again"
    said = logs(events)
    assert "base loaded 4bit" in said and "assistant turns only" in said
    on_cpu = detect().accelerator == "cpu"  # a paged optimizer pages only where there is GPU memory to page from
    assert ("nothing is paged" in said) is on_cpu, said
    assert (job_dir / "sft" / "adapter_model.safetensors").is_file()
    assert not (job_dir / "checkpoints" / "sft").exists(), "a finished stage leaves no checkpoints to resume from"

    from safetensors import safe_open

    merged = job_dir / "merged"
    assert "quantization_config" not in json.loads((merged / "config.json").read_text())
    with safe_open(str(merged / "model.safetensors"), "pt") as fh:
        dtypes = {str(fh.get_tensor(k).dtype) for k in fh.keys()}
        shape = fh.get_tensor("model.layers.0.self_attn.k_proj.weight").shape
    precision = detect().precision("auto")  # fp32 on a CPU, bf16/fp16 on a GPU: never 4-bit
    assert dtypes == {DTYPES[precision]} and tuple(shape) == (24, 48), "merged into unquantised weights"
    state = json.loads((job_dir / "state.json").read_text())["stages"]
    assert state["merge"]["outputs"]["base"] == str(model_dir.resolve())


def test_full_fine_tuning_with_checkpointing_learns_from_answers_only_and_keeps_the_shipped_template(
    tmp_path: Path, tiny_model: Path, toy_data: Path
):
    (tiny_model / "chat_template.jinja").write_text(SMOLLM2)  # no {% generation %} markers, like SmolLM2
    job = tiny_job(tiny_model, toy_data, name="full", stages=["download", "sft"],
                   train={"method": "full", "max_steps": 6, "learning_rate": 0.001, "gradient_checkpointing": True,
                          "max_length": 160})  # SmolLM2's default system prompt is long in a 512-token vocabulary
    code, job_dir = run_job(job, tmp_path)
    assert code == 0
    events = events_of(job_dir, "sft")
    losses = [e["loss"] for e in events if e["kind"] == "metric" and "loss" in e]
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert "loss on assistant turns only, using a marked copy of the chat template" in logs(events)
    out = job_dir / "sft"
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    assert (out / "chat_template.jinja").read_text() == SMOLLM2, "the model ships with its own template"

    # The saved model learned the answers (scored through the shipped template, as a client would prompt it).
    base, trained = answer_loss(tiny_model), answer_loss(out)
    assert trained < base - 0.1, f"answer loss {base:.2f} → {trained:.2f}: full fine-tuning did not learn the task"


def test_lora_on_an_8bit_base_trains_and_merges_unquantised(tmp_path: Path, tiny_model: Path, toy_data: Path):
    job = tiny_job(tiny_model, toy_data, name="int8", train={"quantization": "8bit", "max_steps": 3, "save_steps": 10})
    code, job_dir = run_job(job, tmp_path)
    assert code == 0
    events = events_of(job_dir, "sft")
    assert "base loaded 8bit" in logs(events)
    assert len([e for e in events if e["kind"] == "metric" and "loss" in e]) == 3
    assert "quantization_config" not in json.loads((job_dir / "merged" / "config.json").read_text())
