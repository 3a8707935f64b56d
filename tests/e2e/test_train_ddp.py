"""Two-process DDP for real on CPU (torchrun, gloo) on the tiny model: both ranks train in step,
each reads half the data, and only rank 0 writes outputs and events."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.helpers.jobs import tiny_job, write_job

pytestmark = pytest.mark.slow  # two torchrun processes train the tiny model

STEPS, BATCH, ROWS = 4, 4, 64


def test_two_processes_train_in_step_and_only_rank_0_writes(cli, tmp_path: Path, tiny_model: Path, toy_data: Path):
    job = tiny_job(tiny_model, toy_data, name="ddp", stages=["download", "sft"],
                   train={"max_steps": STEPS, "batch_size": BATCH, "save_steps": 2},
                   parallel={"strategy": "ddp", "num_processes": 2})
    job_file = write_job(tmp_path / "job.yaml", job)
    cpu_only = {"CUDA_VISIBLE_DEVICES": ""}  # the CPU (gloo) path on any machine: the engine and torch see no GPU
    plan = cli("plan", str(job_file), cwd=tmp_path, env=cpu_only)
    assert plan.returncode == 0 and "ddp, 2 processes (gloo)" in plan.stdout, plan.stdout + plan.stderr
    result = cli("run", str(job_file), "--jobs-dir", str(tmp_path / "jobs"), cwd=tmp_path, env=cpu_only)
    job_dir = tmp_path / "jobs" / "ddp"
    log = (job_dir / "logs" / "sft.log").read_text() if (job_dir / "logs" / "sft.log").exists() else ""
    assert result.returncode == 0, result.stderr + log

    ranks = dict(re.findall(r"rank (\d) of 2: 4 steps, trained-weights checksum (-?[0-9]+\.[0-9]+)", log))
    assert set(ranks) == {"0", "1"}, log
    assert ranks["0"] == ranks["1"], "DDP keeps both copies of the adapter identical"

    events = [json.loads(line) for line in (job_dir / "events.jsonl").read_text().splitlines()]
    sft = [e for e in events if e["stage"] == "sft"]
    assert [e["step"] for e in sft if e["kind"] == "progress"] == list(range(1, STEPS + 1)), "one writer"
    assert sum(e["kind"] == "stage_start" for e in sft) == 1
    last = [e for e in sft if e["kind"] == "metric" and "epoch" in e][-1]
    assert last["epoch"] == STEPS * BATCH * 2 / ROWS, "each step consumed a batch on each of 2 ranks"
    assert any("ddp, 2 processes (gloo)" in e.get("message", "") for e in sft)

    record = json.loads((job_dir / "state.json").read_text())["stages"]["sft"]
    assert record["status"] == "done" and record["outputs"]["processes"] == 2 and record["outputs"]["steps"] == STEPS
    assert sorted(p.name for p in (job_dir / "sft").iterdir() if p.name.startswith("adapter")) == [
        "adapter_config.json", "adapter_model.safetensors"]
    assert json.loads((job_dir / "launch" / "sft" / "result.json").read_text())["outputs"]["steps"] == STEPS
    assert "ddp_backend: gloo" in (job_dir / "launch" / "sft" / "ddp.yaml").read_text()
    assert not [p for p in job_dir.rglob("*") if ".tmp-" in p.name]
