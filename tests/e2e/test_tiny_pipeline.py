"""download → sft (LoRA) → merge on the tiny model, through the real CLI: skip, --from, edits, kills."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.helpers.jobs import tiny_job, write_job
from tests.helpers.learning import answer_loss


def state_of(job_dir: Path) -> dict:
    return json.loads((job_dir / "state.json").read_text())


def events_of(job_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (job_dir / "events.jsonl").read_text().splitlines()]


def started(job_dir: Path) -> list[str]:
    return [e["stage"] for e in events_of(job_dir) if e["kind"] == "stage_start"]


@pytest.mark.slow
def test_the_pipeline_runs_skips_and_reruns_what_changed(cli, tmp_path: Path, toy_data: Path, tiny_model: Path):
    job_file = write_job(tmp_path / "job.yaml", tiny_job(tiny_model, toy_data))
    job_dir = tmp_path / "jobs" / "tiny"

    first = cli("run", str(job_file), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    state = state_of(job_dir)
    assert [state["stages"][s]["status"] for s in ("download", "sft", "merge")] == ["done"] * 3
    assert started(job_dir) == ["download", "sft", "merge"]
    losses = [e["loss"] for e in events_of(job_dir) if e["kind"] == "metric" and "loss" in e]
    assert len(losses) == 8 and losses[-1] < losses[0]
    assert (job_dir / "job.yaml").exists()

    # The merged folder is a normal model that learned the task: the trained answers became more likely
    # (8 steps move the loss about 0.2 nats; an unmerged or lost adapter leaves it exactly where it was).
    base, trained = answer_loss(tiny_model), answer_loss(job_dir / "merged")
    assert trained < base - 0.1, f"answer loss {base:.2f} → {trained:.2f}: the merged model did not learn the task"

    again = cli("run", str(job_file), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert started(job_dir) == ["download", "sft", "merge"], "a second run redid a finished stage"
    assert again.stdout.count("skipped") == 3

    from_merge = cli("run", str(job_file), "--from", "merge", cwd=tmp_path)
    assert from_merge.returncode == 0, from_merge.stderr
    assert started(job_dir) == ["download", "sft", "merge", "merge"]

    edited = yaml.safe_load(job_file.read_text())
    edited["train"]["learning_rate"] = 0.002
    write_job(job_file, edited)
    rerun = cli("run", str(job_file), cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert started(job_dir) == ["download", "sft", "merge", "merge", "sft", "merge"]


def test_a_failing_stage_records_the_error_and_keeps_earlier_outputs(cli, tmp_path: Path, tiny_model: Path):
    data = tmp_path / "empty-answers.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " "}]}\n')
    job_file = write_job(tmp_path / "job.yaml", tiny_job(tiny_model, data))
    result = cli("run", str(job_file), cwd=tmp_path)
    assert result.returncode == 2
    assert "empty assistant turn" in result.stderr and "Traceback" not in result.stderr
    job_dir = tmp_path / "jobs" / "tiny"
    state = state_of(job_dir)
    assert state["stages"]["download"]["status"] == "done"
    assert state["stages"]["sft"]["status"] == "failed"
    assert "empty assistant turn" in state["stages"]["sft"]["error"]
    assert (job_dir / "model.json").exists()
    status = cli("status", str(job_dir), cwd=tmp_path)
    assert status.returncode == 0 and "failed" in status.stdout


@pytest.mark.slow
def test_sigkill_mid_sft_leaves_a_readable_state_and_the_rerun_finishes(tmp_path: Path, toy_data: Path, tiny_model: Path):
    job = tiny_job(tiny_model, toy_data, train={"max_steps": 400, "save_steps": 1000})
    job_file = write_job(tmp_path / "job.yaml", job)
    job_dir = tmp_path / "jobs" / "tiny"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "engine", "run", str(job_file)], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (job_dir / "events.jsonl").exists() and any(
            e["kind"] == "progress" and e["stage"] == "sft" for e in events_of(job_dir)
        ):
            break
        time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError("sft never reported progress")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    state = state_of(job_dir)  # must parse: written atomically
    assert state["stages"]["sft"]["status"] == "running"
    assert not (job_dir / "sft").exists(), "a half-trained adapter was left where a finished one goes"

    job["train"]["max_steps"] = 6
    write_job(job_file, job)
    rerun = subprocess.run([sys.executable, "-m", "engine", "run", str(job_file)], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    state = state_of(job_dir)
    assert state["stages"]["sft"]["status"] == "done" and state["stages"]["merge"]["status"] == "done"
    assert "download: done earlier" in rerun.stdout
    assert not [p for p in job_dir.iterdir() if ".tmp-" in p.name]
