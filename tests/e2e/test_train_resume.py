"""SIGKILL during training, then `engine run` again: it resumes from the newest complete checkpoint
(never a half-written one), replays the very same steps, and finishes with the planned total."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.training import checkpoints
from tests.conftest import ROOT
from tests.helpers.jobs import tiny_job, write_job

pytestmark = pytest.mark.slow  # trains, is killed, trains again

TOTAL, EVERY = 14, 3


def events_of(job_dir: Path) -> list[dict]:
    path = job_dir / "events.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # the line being written when the process died
    return out


def sft_steps(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["stage"] == "sft" and e["kind"] == kind and "step" in e]


def test_a_killed_run_resumes_from_the_newest_complete_checkpoint_and_replays_the_same_steps(
    tmp_path: Path, tiny_model: Path, toy_data: Path
):
    job = tiny_job(tiny_model, toy_data, name="resume", stages=["download", "sft"],
                   train={"max_steps": TOTAL, "save_steps": EVERY, "save_total_limit": 2})
    job_file = write_job(tmp_path / "job.yaml", job)
    job_dir = tmp_path / "jobs" / "resume"
    folder = job_dir / "checkpoints" / "sft"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "engine", "run", str(job_file), "--jobs-dir", str(tmp_path / "jobs")]

    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # kill once a checkpoint is complete and a later step's loss is logged
        done = checkpoints.latest(folder)
        logged = [e for e in sft_steps(events_of(job_dir), "metric") if "loss" in e]
        if done is not None and logged and logged[-1]["step"] > checkpoints.step_of(done):
            break
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.005)
    else:
        proc.kill()
        raise AssertionError("no checkpoint was completed in time")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    before = events_of(job_dir)
    survivor = checkpoints.latest(folder)
    resume_at = checkpoints.step_of(survivor)
    assert 0 < resume_at < TOTAL
    assert len([p for p in checkpoints.listed(folder) if checkpoints.is_complete(p)]) <= 2, "rotation keeps 2"
    killed_losses = {e["step"]: e["loss"] for e in sft_steps(before, "metric") if "loss" in e}
    # What a kill in the middle of a save leaves: a newer checkpoint folder with a truncated file, no marker.
    torn = folder / f"checkpoint-{resume_at + EVERY}"
    if not torn.exists():
        shutil.copytree(survivor, torn)
        (torn / checkpoints.MARKER).unlink()
        weights = torn / "adapter_model.safetensors"
        weights.write_bytes(weights.read_bytes()[:100])

    rerun = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    after = events_of(job_dir)[len(before):]
    said = "\n".join(e.get("message", "") for e in after if e["kind"] == "log")
    assert f"{torn.name}: incomplete" in said
    assert f"resuming from checkpoint-{resume_at}" in said
    assert f"resumed from checkpoint at step {resume_at} of {TOTAL}" in said
    steps = [e["step"] for e in sft_steps(after, "progress")]
    assert steps == list(range(resume_at + 1, TOTAL + 1)), "exactly the remaining steps, each once"
    replayed = {e["step"]: e["loss"] for e in sft_steps(after, "metric") if "loss" in e}
    overlap = sorted(set(killed_losses) & set(replayed))
    assert overlap, "the killed run had logged steps past its last checkpoint"
    for step in overlap:  # same data position, RNG, optimizer and schedule: the very same losses
        assert abs(killed_losses[step] - replayed[step]) < 1e-5, (step, killed_losses[step], replayed[step])
    record = json.loads((job_dir / "state.json").read_text())["stages"]["sft"]
    assert record["status"] == "done" and record["outputs"]["steps"] == TOTAL
    assert record["outputs"]["resumed_from_step"] == resume_at
    assert (job_dir / "sft" / "adapter_model.safetensors").is_file()
    assert not folder.exists(), "no checkpoint, whole or half-written, is left behind"
    assert not [p for p in job_dir.rglob("*") if ".tmp-" in p.name]
