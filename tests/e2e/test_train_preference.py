"""Preference training end to end on the tiny model: sft+dpo (QLoRA) starting from the merged SFT
model, and KTO straight from the downloaded model — reward margins rise in both."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from engine.cli import main
from tests.helpers.jobs import COLORS, tiny_job, write_job, write_jsonl

pytestmark = pytest.mark.slow  # SFT, DPO and KTO training on the tiny model


def toy_preference_rows(n: int = 32, seed: int = 1) -> list[dict]:
    """Learnable preference: answer with the color asked for, never refuse."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        color = rng.choice(COLORS)
        rows.append({"prompt": f"Say the color {color}.", "chosen": f"The color is {color}.",
                     "rejected": "I will not say it."})
    return rows


def run_job(job: dict, tmp_path: Path) -> tuple[int, Path]:
    job_file = write_job(tmp_path / f"{job['name']}.yaml", job)
    return main(["run", str(job_file), "--jobs-dir", str(tmp_path / "jobs")]), tmp_path / "jobs" / job["name"]


def metrics(job_dir: Path, stage: str, key: str) -> list[float]:
    events = map(json.loads, (job_dir / "events.jsonl").read_text().splitlines())
    return [e[key] for e in events if e["stage"] == stage and e["kind"] == "metric" and key in e]


def outputs(job_dir: Path) -> dict:
    return {k: v.get("outputs", {}) for k, v in json.loads((job_dir / "state.json").read_text())["stages"].items()}


def rising(values: list[float]) -> bool:
    return len(values) >= 6 and sum(values[-3:]) / 3 > sum(values[:3]) / 3 + 0.05 and values[-1] > values[0]


def test_sft_then_dpo_trains_a_new_adapter_on_the_merged_sft_model_and_merges_onto_it(
    tmp_path: Path, tiny_model: Path, toy_data: Path
):
    pref = write_jsonl(tmp_path / "data" / "pref.jsonl", toy_preference_rows())
    job = tiny_job(tiny_model, toy_data, name="sftdpo", task="sft+dpo", stages=["download", "sft", "dpo", "merge"],
                   dataset={"sft": str(toy_data), "preference": str(pref)},
                   train={"method": "qlora", "max_steps": 4},
                   dpo={"max_steps": 8, "learning_rate": 0.005, "beta": 0.1})
    code, job_dir = run_job(job, tmp_path)
    assert code == 0
    margins = metrics(job_dir, "dpo", "reward_margin")
    assert len(margins) == 8 and margins[0] == 0.0, "policy and reference are the same model at step 1"
    assert rising(margins), margins
    assert metrics(job_dir, "dpo", "reward_accuracy")[-1] > 0.5
    losses = metrics(job_dir, "dpo", "loss")
    assert abs(losses[0] - 0.6931) < 1e-3 and losses[-1] < losses[0]

    base = job_dir / "dpo-base"
    out = outputs(job_dir)
    assert out["sft"]["base"] == str(tiny_model.resolve())
    assert out["dpo"]["base"] == str(base) and out["merge"]["base"] == str(base)
    assert (job_dir / "dpo" / "adapter_model.safetensors").is_file() and not (job_dir / "dpo" / "ref").exists()
    assert "quantization_config" not in json.loads((base / "config.json").read_text())

    from safetensors.torch import load_file

    name = "model.layers.0.self_attn.q_proj.weight"
    original, sft_merged, final = (load_file(str(p / "model.safetensors"))[name]
                                   for p in (tiny_model, base, job_dir / "merged"))
    assert not original.equal(sft_merged), "dpo-base holds the SFT adapter merged in"
    assert not sft_merged.equal(final), "merged holds the DPO adapter on top of dpo-base"


def test_kto_on_the_downloaded_model_raises_reward_margins_and_merges_onto_it(tmp_path: Path, tiny_model: Path,
                                                                             toy_data: Path):
    pref = write_jsonl(tmp_path / "data" / "pref.jsonl", toy_preference_rows())
    job = tiny_job(tiny_model, toy_data, name="kto", task="dpo", stages=["download", "dpo", "merge"],
                   dataset={"preference": str(pref), "sft": None},
                   dpo={"algorithm": "kto", "max_steps": 8, "learning_rate": 0.005})
    code, job_dir = run_job(job, tmp_path)
    assert code == 0
    margins = metrics(job_dir, "dpo", "reward_margin")
    assert rising(margins), margins
    assert metrics(job_dir, "dpo", "kl"), "KTO's KL estimate is reported"
    out = outputs(job_dir)
    assert out["dpo"]["algorithm"] == "kto" and out["dpo"]["base"] == str(tiny_model.resolve())
    assert out["merge"]["base"] == str(tiny_model.resolve()) and not (job_dir / "dpo-base").exists()
