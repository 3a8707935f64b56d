"""The estimate against the real peak memory of short SFT runs on this CPU.

A random 8-layer, 512-wide Llama (19M parameters) trains 2 steps through engine.pipeline.run_job in
a fresh process, which reports its resident memory after the ML imports and its peak (VmHWM).
The estimate must land within a factor of 2 of what training added, and within 1.5x of the peak.
The three runs go in parallel, one thread each, to keep the suite fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import hardware
from engine.estimate import for_job
from engine.spec import JobSpec
from tests.helpers.jobs import write_jsonl

ROOT = Path(__file__).resolve().parents[2]
WORDS = "red green blue yellow black white orange purple apple banana cherry".split()
RUNNER = """
import json, sys
from pathlib import Path

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024

import torch, transformers, peft, trl, datasets  # what the sft stage imports anyway
from trl import SFTTrainer
from engine.pipeline import run_job
from engine.spec import JobSpec

spec = JobSpec.model_validate(json.loads(sys.argv[1]))
base = rss("VmRSS:")
run_job(spec, Path(sys.argv[2]))
print(json.dumps({"base": base, "peak": rss("VmHWM:")}))
"""


@pytest.fixture(scope="module")
def bigger_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from engine.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("peak")
    model = build_tiny_model(root / "model", hidden=512, layers=8)
    rows = [
        {"messages": [{"role": "user", "content": "Say many colors."},
                      {"role": "assistant", "content": " ".join(WORDS[(i + j) % len(WORDS)] for j in range(150))}]}
        for i in range(16)
    ]
    return model, write_jsonl(root / "long.jsonl", rows)


def peak_job(model: Path, data: Path, method: str, checkpointing: bool) -> dict:
    return {
        "name": f"peak-{method}-{int(checkpointing)}", "task": "sft", "stages": ["download", "sft"],
        "model": {"id": str(model), "hub": "local"}, "dataset": {"sft": str(data)},
        "train": {"method": method, "max_steps": 2, "batch_size": 4, "grad_accum": 1, "max_length": 256,
                  "save_steps": 100, "gradient_checkpointing": checkpointing, "assistant_only_loss": False},
    }


@pytest.mark.slow  # three real training runs of a 19M-parameter model
def test_the_estimate_is_within_a_sane_factor_of_real_cpu_training_peaks(bigger_model, tmp_path: Path):
    model, data = bigger_model
    cases = {"lora": ("lora", False), "full": ("full", False), "lora+gc": ("lora", True)}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    procs, estimates = {}, {}
    for name, (method, gc) in cases.items():
        job = peak_job(model, data, method, gc)
        job_dir = tmp_path / "jobs" / job["name"]
        est = for_job(JobSpec.model_validate(job), job_dir, hardware.detect(tmp_path))
        assert not isinstance(est, str), est
        estimates[name] = est.memory
        procs[name] = subprocess.Popen([sys.executable, "-c", RUNNER, json.dumps(job), str(job_dir)],
                                       cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    measured = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        measured[name] = json.loads(out.strip().splitlines()[-1])
    gib = 1024**3
    report = {}
    for name, est in estimates.items():
        added = (measured[name]["peak"] - measured[name]["base"]) / gib
        predicted = est.total_gb - est.breakdown["framework"]
        report[name] = (round(predicted, 3), round(added, 3), round(est.total_gb, 3), round(measured[name]["peak"] / gib, 3))
        assert 0.5 <= predicted / added <= 2.0, report
        assert 0.67 <= est.total_gb / (measured[name]["peak"] / gib) <= 1.5, report
    # Gradient checkpointing really lowers the peak, as the estimate says it does.
    assert report["lora+gc"][1] < report["lora"][1] and report["lora+gc"][0] < report["lora"][0], report
