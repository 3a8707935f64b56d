"""`plan` shows the memory/disk estimate and verdict; `run` refuses what will not fit unless --force.

$YCDY_DEVICE_MEMORY_GB stands in for a small device (documented in the README), so the refusal is
exercised through the real CLI on the tiny model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.events import read_events
from engine.hardware import detect
from tests.helpers.jobs import tiny_job, write_job


def short_job(tmp_path: Path, model: Path, data: Path) -> Path:
    job = tiny_job(model, data, stages=["download", "sft"], train={"max_steps": 2, "save_steps": 100})
    return write_job(tmp_path / "job.yaml", job)


def test_plan_prints_memory_disk_and_a_verdict(cli, tmp_path: Path, toy_data: Path, tiny_model: Path):
    result = cli("plan", str(short_job(tmp_path, tiny_model, toy_data)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    hw = detect()  # what the plan sees here: fp32 in RAM on a CPU, bf16/fp16 per GPU on a GPU machine
    precision, per = hw.precision("auto"), ("machine (RAM)" if hw.accelerator == "cpu" else "device")
    assert "estimate:" in out and "parameters (" in out
    assert f"memory (lora, {precision}, batch 4 × 64 tokens" in out and f"GB per {per}" in out
    assert "without gradient checkpointing" in out and "other methods: qlora" in out
    assert "disk:" in out and "verdict: fits" in out


def test_plan_json_carries_the_estimate(cli, tmp_path: Path, toy_data: Path, tiny_model: Path):
    result = cli("plan", "--json", str(short_job(tmp_path, tiny_model, toy_data)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    est = json.loads(result.stdout)["estimate"]
    assert est["available"] is True and est["verdict"]["level"] == "fits"
    assert {"weights", "lora", "gradients", "optimizer", "activations", "framework"} <= set(est["memory"]["breakdown"])
    assert set(est["methods"]) == {"lora", "qlora", "full"} and est["disk"]["download_gb"] == 0.0


def test_plan_of_an_unknown_hub_model_says_estimate_after_download(cli, tmp_path: Path, toy_data: Path):
    job = write_job(tmp_path / "job.yaml", {
        "name": "hubby", "task": "sft", "stages": ["download", "sft", "merge"],
        "model": {"id": "someone/not-in-any-catalogue", "hub": "huggingface"}, "dataset": {"sft": str(toy_data)},
    })
    result = cli("plan", str(job), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "estimate after download" in result.stdout


def test_run_refuses_a_job_that_will_not_fit_before_training(cli, tmp_path: Path, toy_data: Path, tiny_model: Path):
    job = short_job(tmp_path, tiny_model, toy_data)
    result = cli("run", str(job), cwd=tmp_path, env={"YCDY_DEVICE_MEMORY_GB": "0.2"})
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert "will not fit" in errors[0] and "0.2 GB available" in errors[0] and "--force" in errors[0]
    assert not (tmp_path / "jobs" / "tiny" / "sft").exists()


@pytest.mark.slow  # trains
def test_run_with_force_trains_anyway_and_logs_a_warning(cli, tmp_path: Path, toy_data: Path, tiny_model: Path):
    job = short_job(tmp_path, tiny_model, toy_data)
    result = cli("run", str(job), "--force", cwd=tmp_path, env={"YCDY_DEVICE_MEMORY_GB": "0.2"})
    assert result.returncode == 0, result.stderr
    job_dir = tmp_path / "jobs" / "tiny"
    assert (job_dir / "sft").is_dir()
    events, _ = read_events(job_dir / "events.jsonl")
    warned = [e for e in events if e["kind"] == "log" and e.get("level") == "warning" and "--force" in e["message"]]
    assert len(warned) == 1 and warned[0]["stage"] == "sft"
