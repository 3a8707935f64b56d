"""The eval stage end to end on the tiny model: it tells a model that learned a file from one that did not.

A tiny model fully fine-tuned on a multiple-choice file (asked exactly as the eval asks) must score
≥ 0.9 on it while its base scores near chance; the report's figures must be recomputable from the
saved generations; a bad benchmark file stops the job before any model loads.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from engine.eval.readers import mcq_prompt, read_mcq
from engine.eval.report import recompute
from engine.pipeline import run_job
from engine.spec import JobSpec
from tests.helpers.jobs import tiny_job, write_job, write_jsonl

WORDS = ["red", "green", "blue", "yellow", "apple", "banana", "cherry", "dog", "cat", "house", "fox", "world"]


def mcq_file(path: Path, n: int = 12, seed: int = 0) -> Path:
    rng = random.Random(seed)
    lines = ["id,question,A,B,C,D,answer"]
    for i in range(n):
        choices = rng.sample(WORDS, 4)
        lines.append(f"{i + 1},Which word is number {i + 1}?,{','.join(choices)},{'ABCD'[i % 4]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def training_rows(csv: Path, repeat: int) -> list[dict]:
    """The same file as chat rows, asked exactly as the eval asks (mcq_prompt), answered with the letter."""
    rows = []
    for item in read_mcq(csv):
        question = item.prompt[0]["content"]
        assert question == mcq_prompt(question.split("\n")[0], item.choices)
        rows.append({"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": item.reference}]})
    return rows * repeat


@pytest.mark.slow
def test_a_model_fine_tuned_on_a_multiple_choice_file_scores_high_and_its_base_near_chance(
        cli, tmp_path: Path, tiny_model: Path):
    csv = mcq_file(tmp_path / "memorise.csv")
    data = write_jsonl(tmp_path / "train.jsonl", training_rows(csv, repeat=8))
    spec = JobSpec.model_validate({
        "name": "memorise", "task": "sft", "model": {"id": str(tiny_model), "hub": "local"},
        "dataset": {"sft": str(data)},
        "train": {"method": "full", "max_steps": 60, "batch_size": 8, "grad_accum": 1, "learning_rate": 3e-3,
                  "lr_scheduler": "constant", "warmup_ratio": 0.0, "max_length": 128, "save_steps": 1000},
        "export": {"method": "none"},
        "deploy": {"port": 1},
        "eval": {"benchmarks": [str(csv), "qa-en"], "limit": 6, "max_new_tokens": 8},
    })
    spec = spec.model_copy(update={"stages": ["download", "sft", "eval"]})
    job_dir = tmp_path / "jobs" / "memorise"
    state = run_job(spec, job_dir)
    assert state.stage("eval")["status"] == "done"

    report = json.loads((job_dir / "eval" / "report.json").read_text())
    assert list(report["models"]) == ["base", "fine-tuned"]
    assert report["models"]["fine-tuned"]["path"] == str(job_dir / "sft")
    acc = report["scores"]["memorise.csv"]
    assert acc["fine-tuned"]["accuracy"] >= 0.9, acc
    assert acc["base"]["accuracy"] <= 0.5, acc  # 4 choices: chance is 0.25
    assert report["scores"]["qa-en"]["base"]["n"] == 6

    # Every figure in report.json comes back from generations.jsonl alone.
    again = recompute(job_dir / "eval" / report["generations"])
    assert again == report["scores"]
    table = (job_dir / "eval" / "report.md").read_text()
    assert "| memorise.csv | accuracy % |" in table and "Δ vs base" in table
    assert (job_dir / "eval" / "chart.png").read_bytes()[:4] == b"\x89PNG"
    events = [json.loads(line) for line in (job_dir / "events.jsonl").read_text().splitlines()]
    assert any(e["stage"] == "eval" and e["kind"] == "progress" for e in events)

    shown = cli("status", str(job_dir), cwd=tmp_path)
    assert shown.returncode == 0 and "| memorise.csv | accuracy % |" in shown.stdout


def test_a_bad_benchmark_file_stops_the_job_before_any_model_loads(cli, tmp_path: Path, tiny_model: Path,
                                                                    toy_data: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,question,A,B,C,D,answer\n1,Ok?,a,b,c,d,A\n2,Which?,a,b,c,d,F\n", encoding="utf-8")
    job = tiny_job(tiny_model, toy_data, stages=["download", "sft", "merge", "eval"],
                   eval={"benchmarks": ["bad.csv", "mcq-eng"]})
    result = cli("run", str(write_job(tmp_path / "job.yaml", job)), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"{bad}:3:" in result.stderr and "'F' is not among the choices" in result.stderr
    assert "did you mean mcq-en?" in result.stderr and "Traceback" not in result.stderr
    events = (tmp_path / "jobs" / "tiny" / "events.jsonl")
    started = [json.loads(x)["stage"] for x in events.read_text().splitlines() if '"stage_start"' in x] if events.exists() else []
    assert started == []


@pytest.mark.slow
def test_a_lora_job_with_an_export_is_scored_in_three_columns_on_its_held_out_rows(
        tmp_path: Path, tiny_model: Path, toy_data: Path):
    job = tiny_job(tiny_model, toy_data, stages=["download", "sft", "merge", "export", "eval"],
                   dataset={"val_ratio": 0.1},
                   export={"method": "awq", "calibration_samples": 8, "calibration_max_length": 32,
                           "max_ppl_ratio": 100.0},
                   eval={"benchmarks": ["identity", "instructions"], "limit": 4, "max_new_tokens": 8})
    spec = JobSpec.model_validate(job)
    job_dir = tmp_path / "jobs" / "tiny"
    run_job(spec, job_dir)
    report = json.loads((job_dir / "eval" / "report.json").read_text())
    assert report["models"] == {"base": {"path": str(tiny_model)}, "fine-tuned": {"path": str(job_dir / "merged")},
                                "export": {"path": str(job_dir / "export")}}
    assert [b["name"] for b in report["benchmarks"]] == ["held-out", "identity", "instructions"]
    held = report["scores"]["held-out"]
    assert held["base"]["n"] == 4 and set(held) == {"base", "fine-tuned", "export"}  # eval.limit caps it too
    assert report["scores"]["identity"]["export"]["n"] == 4
    # Eight LoRA steps on the colour task already make the held-out references likelier than under the base.
    assert held["fine-tuned"]["perplexity"] < held["base"]["perplexity"]
    row = next(r for r in report["table"] if r["benchmark"] == "held-out" and r["metric"] == "rouge_l")
    assert row["delta_fine_tuned"] == pytest.approx(row["fine-tuned"] - row["base"], abs=1e-6)
    assert row["delta_export"] == pytest.approx(row["export"] - row["fine-tuned"], abs=1e-6)
    assert recompute(job_dir / "eval" / "generations.jsonl") == report["scores"]
    assert "Δ vs fine-tuned" in (job_dir / "eval" / "report.md").read_text()
