"""What the GPU tests share: a tiny model wide enough for 4-bit GPU kernels, the toy task, and a job runner.

Every test here is marked `gpu` (skipped without CUDA by tests/conftest.py) and `slow`; they run with
`./yichuidingyin.sh test -m gpu` and from bench/gpu_check.sh.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.files import JobFiles
from tests.helpers.jobs import toy_sft_rows, write_job, write_jsonl

# 256 wide: every projection (k/v 128, MLP 512) is a multiple of 64 and of AWQ's group size, as the
# Marlin/compressed-tensors kernels need; a 64-wide model would fall back to plain PyTorch paths.
HIDDEN = 256


@pytest.fixture(scope="session")
def gpu_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from engine.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("gpu-tiny") / "model", hidden=HIDDEN)


@pytest.fixture(scope="session")
def gpu_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("gpu-data") / "toy.jsonl", toy_sft_rows(256))


def gpu_job(name: str, model: Path, data: Path, stages: list[str], **sections: Any) -> dict[str, Any]:
    train = {"max_steps": 40, "batch_size": 8, "grad_accum": 1, "max_length": 64, "save_steps": 1000,
             "learning_rate": 0.002, "precision": "bf16", **sections.pop("train", {})}
    return {"name": name, "task": "sft", "stages": stages, "model": {"id": str(model), "hub": "local"},
            "dataset": {"sft": str(data)}, "train": train, **sections}


def run_job(job: dict[str, Any], root: Path) -> Path:
    """`engine run` in this process; returns the job folder after asserting it finished."""
    job_file = write_job(root / f"{job['name']}.yaml", job)
    code = main(["run", str(job_file), "--jobs-dir", str(root / "jobs")])
    job_dir = root / "jobs" / job["name"]
    assert code == 0, (job_dir / "events.jsonl").read_text()[-3000:] if (job_dir / "events.jsonl").exists() else code
    return job_dir


def events(job_dir: Path, stage: str) -> list[dict[str, Any]]:
    lines = JobFiles(job_dir).events.read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["stage"] == stage]


def said(evs: list[dict[str, Any]]) -> str:
    return "\n".join(e.get("message", "") for e in evs if e["kind"] == "log")


def losses(evs: list[dict[str, Any]]) -> list[float]:
    return [e["loss"] for e in evs if e["kind"] == "metric" and "loss" in e]
