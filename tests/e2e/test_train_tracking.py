"""A training stage's records beside its result: `loss.png` (train/eval loss and learning rate) in its
output folder, TensorBoard event files under jobs/<name>/runs/<stage>/ when train.report_to asks, and
one plain line naming the package when the chosen tracker is not installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from engine.files import LOSS_PLOT, JobFiles
from tests.helpers.jobs import tiny_job, write_job

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="needs the tensorboard package")
def test_sft_writes_loss_png_and_tensorboard_events_under_runs(tiny_model: Path, toy_data: Path, tmp_path: Path, cli):
    job = tiny_job(tiny_model, toy_data, name="tracked", stages=["download", "sft"],
                   train={"report_to": "tensorboard", "max_steps": 6, "save_steps": 3})
    result = cli("run", str(write_job(tmp_path / "tracked.yaml", job)), "--jobs-dir", str(tmp_path / "jobs"),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    files = JobFiles(tmp_path / "jobs" / "tracked")
    picture = files.stage_dir("sft") / LOSS_PLOT
    assert picture.read_bytes()[:8] == PNG and picture.stat().st_size > 5000
    events = list((files.runs / "sft").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 100
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    assert "train/loss" in acc.Tags()["scalars"]
    assert len(acc.Scalars("train/loss")) == 6
    status = cli("status", str(files.root), cwd=tmp_path)
    assert status.returncode == 0 and str(picture) in status.stdout


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed here")
def test_a_tracker_whose_package_is_missing_is_one_line_saying_how_to_install_it(tiny_model: Path, toy_data: Path,
                                                                                  tmp_path: Path, cli):
    job = tiny_job(tiny_model, toy_data, name="untracked", stages=["download", "sft"], train={"report_to": "wandb"})
    result = cli("run", str(write_job(tmp_path / "untracked.yaml", job)), "--jobs-dir", str(tmp_path / "jobs"),
                 cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "train.report_to" in line]
    assert len(lines) == 1 and "pip install wandb" in lines[0]
    assert "Traceback" not in result.stderr
