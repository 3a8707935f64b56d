"""A job's estimate on a given machine: where config.json comes from, disk, verdict, and run's refusal.

Machines are our own Hardware dataclass built directly (a 24 GB GPU, an 8-GPU node, a laptop);
the models are config.json files alone, no weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.context import Context
from engine.errors import UserError
from engine.estimate import (
    ENV_DISK,
    ENV_MEMORY,
    Preflight,
    auto_strategy,
    device_memory_gb,
    disk,
    find_config,
    for_job,
    settings_for,
    summary_lines,
)
from engine.events import EventLog, read_events
from engine.hardware import Gpu, Hardware
from engine.shapes import count_params, shape_of
from engine.spec import JobSpec
from engine.state import State
from tests.unit.test_estimate import LLAMA2_7B, QWEN25_05B


def gpus(n: int, memory_gb: float) -> Hardware:
    return Hardware(gpus=[Gpu(i, "test GPU", memory_gb, True) for i in range(n)], cpu_cores=16, ram_gb=128,
                    disk_free_gb=2000.0, disk_path="/jobs")


def model_folder(tmp_path: Path, config: dict) -> Path:
    folder = tmp_path / "model"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    return folder


def job(model: str, hub: str = "local", **train) -> JobSpec:
    stages = ["download", "sft"] + ([] if train.get("method") == "full" else ["merge"])
    return JobSpec.model_validate({
        "name": "est", "task": "sft", "stages": stages,
        "model": {"id": model, "hub": hub}, "dataset": {"sft": "data.jsonl"},
        "train": {"batch_size": 1, "max_length": 512, **train},
    })


@pytest.fixture(autouse=True)
def no_overrides(monkeypatch):
    monkeypatch.delenv(ENV_MEMORY, raising=False)
    monkeypatch.delenv(ENV_DISK, raising=False)


def test_a_local_model_is_estimated_from_its_config_json(tmp_path: Path):
    spec = job(str(model_folder(tmp_path, LLAMA2_7B)))
    est = for_job(spec, tmp_path / "jobs" / "est", gpus(1, 80.0))
    assert not isinstance(est, str)
    assert est.params.total == pytest.approx(6.738e9, rel=0.01)
    assert est.settings.precision == "bf16" and est.settings.targets == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert est.verdict.level == "fits" and set(est.methods) == {"lora", "qlora", "full"}
    assert est.disk.download_gb == 0.0  # a local folder is used in place
    assert est.disk.outputs["merged"] == pytest.approx(6.738e9 * 2 / 1e9, rel=0.01)


def test_a_hub_model_without_a_config_yet_says_estimate_after_download(tmp_path: Path):
    spec = job("someone/not-in-the-catalogue", hub="modelscope")
    found = for_job(spec, tmp_path / "jobs" / "est", gpus(1, 24.0))
    assert isinstance(found, str) and found.startswith("estimate after download")


def test_after_download_the_downloaded_config_is_used(tmp_path: Path):
    spec = job("someone/not-in-the-catalogue", hub="modelscope")
    job_dir = tmp_path / "jobs" / "est"
    folder = model_folder(tmp_path, QWEN25_05B)
    State(job_dir, {"version": 1, "stages": {"download": {"status": "done", "outputs": {"path": str(folder)}}}}).save()
    config, source = find_config(spec, job_dir)
    assert config == QWEN25_05B and source == str(folder / "config.json")
    est = for_job(spec, job_dir, gpus(1, 24.0))
    assert not isinstance(est, str) and est.disk.download_gb == 0.0


def test_a_7b_full_fine_tune_will_not_fit_one_24_gb_gpu_and_names_a_fix(tmp_path: Path):
    spec = job(str(model_folder(tmp_path, LLAMA2_7B)), method="full")
    est = for_job(spec, tmp_path / "jobs" / "est", gpus(1, 24.0))
    assert est.verdict.level == "will not fit"
    assert "24.0 GB available" in est.verdict.message and "try train.method: lora" in est.verdict.message
    assert any(f.startswith("train.method: qlora") for f in est.verdict.fixes)


def test_parallel_auto_shards_with_fsdp_when_a_ddp_copy_would_not_fit(tmp_path: Path):
    spec = job(str(model_folder(tmp_path, LLAMA2_7B)), method="full")
    est = for_job(spec, tmp_path / "jobs" / "est", gpus(8, 80.0))
    assert est.settings.devices == 8 and est.settings.strategy == "fsdp"
    assert est.verdict.level == "fits"
    small = for_job(job(str(model_folder(tmp_path, LLAMA2_7B))), tmp_path / "jobs" / "est", gpus(8, 80.0))
    assert small.settings.strategy == "ddp"  # a LoRA copy fits each GPU: plain data parallel


def test_a_cpu_machine_is_judged_against_its_ram_in_fp32(tmp_path: Path):
    laptop = Hardware(cpu_cores=8, ram_gb=16.0, disk_free_gb=500.0, disk_path="/jobs")
    est = for_job(job(str(model_folder(tmp_path, LLAMA2_7B))), tmp_path / "jobs" / "est", laptop)
    assert est.settings.precision == "fp32" and est.settings.accelerator == "cpu"
    assert est.verdict.level == "will not fit" and "of RAM" in est.verdict.message


def test_too_little_disk_will_not_fit_even_when_memory_does(tmp_path: Path):
    hw = Hardware(gpus=[Gpu(0, "big", 80.0, True)], ram_gb=128, disk_free_gb=5.0, disk_path="/jobs")
    est = for_job(job(str(model_folder(tmp_path, LLAMA2_7B))), tmp_path / "jobs" / "est", hw)
    assert est.memory_verdict.level == "fits"
    assert est.verdict.level == "will not fit" and "GB of disk" in est.verdict.message


def test_full_fine_tune_checkpoints_dominate_disk(tmp_path: Path):
    folder = str(model_folder(tmp_path, LLAMA2_7B))
    lora = for_job(job(folder), tmp_path / "jobs" / "est", gpus(8, 80.0)).disk
    full = for_job(job(folder, method="full", max_steps=1000), tmp_path / "jobs" / "est", gpus(8, 80.0)).disk
    assert full.outputs["checkpoints/sft"] > 100 * lora.outputs["checkpoints/sft"]
    assert full.total_gb > 200  # three checkpoints of weights + AdamW states for 7B


def test_env_overrides_replace_detected_memory_and_disk(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(ENV_MEMORY, "8")
    monkeypatch.setenv(ENV_DISK, "1000")
    assert device_memory_gb(gpus(1, 80.0)) == 8.0
    est = for_job(job(str(model_folder(tmp_path, LLAMA2_7B))), tmp_path / "jobs" / "est", gpus(1, 80.0))
    assert est.device_gb == 8.0 and est.verdict.level == "will not fit"
    monkeypatch.setenv(ENV_MEMORY, "lots")
    with pytest.raises(UserError, match=ENV_MEMORY):
        device_memory_gb(gpus(1, 80.0))


def test_plan_lines_show_memory_parts_other_methods_disk_and_verdict(tmp_path: Path):
    est = for_job(job(str(model_folder(tmp_path, LLAMA2_7B))), tmp_path / "jobs" / "est", gpus(1, 24.0))
    text = "\n".join(summary_lines(est))
    for needle in ("6.74 B parameters", "weights 12.", "without gradient checkpointing", "qlora", "full",
                   "disk:", "verdict: fits"):
        assert needle in text, needle
    json.dumps(est.to_dict())  # plan --json serialises it as it is


def context(tmp_path: Path, spec: JobSpec, hw: Hardware, force: bool = False) -> Context:
    job_dir = tmp_path / "jobs" / spec.name
    job_dir.mkdir(parents=True, exist_ok=True)
    return Context(spec=spec, job_dir=job_dir, events=EventLog(job_dir / "events.jsonl"), state=State(job_dir),
                   hardware=hw, force=force)


def test_run_refuses_a_job_that_will_not_fit_with_one_line_naming_figure_and_fix(tmp_path: Path):
    ctx = context(tmp_path, job(str(model_folder(tmp_path, LLAMA2_7B)), max_length=4096, batch_size=4), gpus(1, 24.0))
    with pytest.raises(UserError) as caught:
        Preflight(ctx, ["download", "sft", "merge"]).check()
    (line,) = caught.value.lines
    assert line.startswith("will not fit: lora needs about") and "24.0 GB available" in line
    assert "try train." in line and "--force" in line


def test_force_runs_it_anyway_with_a_warning_event(tmp_path: Path):
    ctx = context(tmp_path, job(str(model_folder(tmp_path, LLAMA2_7B)), max_length=4096, batch_size=4),
                  gpus(1, 24.0), force=True)
    Preflight(ctx, ["sft"]).check()
    events, _ = read_events(ctx.job_dir / "events.jsonl")
    warnings = [e for e in events if e.get("level") == "warning"]
    assert len(warnings) == 1 and "running anyway (--force)" in warnings[0]["message"]


def test_a_tight_job_runs_with_a_warning_event(tmp_path: Path):
    spec = job(str(model_folder(tmp_path, LLAMA2_7B)))
    need = for_job(spec, tmp_path / "jobs" / "est", gpus(1, 80.0)).memory.total_gb
    ctx = context(tmp_path, spec, gpus(1, need / 0.9))
    Preflight(ctx, ["sft"]).check()
    events, _ = read_events(ctx.job_dir / "events.jsonl")
    assert any(e.get("level") == "warning" and e["message"].startswith("tight:") for e in events)


def test_nothing_is_checked_when_no_training_stage_is_left_to_run(tmp_path: Path):
    ctx = context(tmp_path, job(str(model_folder(tmp_path, LLAMA2_7B)), method="full"), gpus(1, 8.0))
    Preflight(ctx, ["merge"]).check()  # sft done earlier: merging needs no training memory
    assert not (ctx.job_dir / "events.jsonl").exists()


def test_a_catalogue_model_is_estimated_before_download_and_counts_its_download(tmp_path: Path):
    spec = job("Qwen/Qwen2.5-7B-Instruct", hub="modelscope")
    est = for_job(spec, tmp_path / "jobs" / "est", gpus(1, 24.0))
    assert not isinstance(est, str), est
    assert est.source.startswith("catalogue entry") and est.params.total == pytest.approx(7.62e9, rel=0.01)
    assert est.disk.download_gb == pytest.approx(7.62 * 2, rel=0.02)  # 16-bit weights from the hub


def test_auto_strategy_tells_the_launcher_to_shard_only_when_needed(tmp_path: Path):
    folder = str(model_folder(tmp_path, LLAMA2_7B))
    assert auto_strategy(job(folder, method="full"), tmp_path / "j", gpus(8, 80.0)) == "fsdp"
    assert auto_strategy(job(folder), tmp_path / "j", gpus(8, 80.0)) == "ddp"
    assert auto_strategy(job(folder), tmp_path / "j", gpus(1, 80.0)) == "none"
    assert auto_strategy(job("someone/unknown", hub="modelscope"), tmp_path / "j", gpus(8, 80.0)) is None


def test_a_builtin_model_not_prepared_yet_counts_its_fp32_conversion_as_download(tmp_path: Path):
    spec = JobSpec.model_validate({"name": "est", "task": "sft", "stages": ["download", "sft", "merge"],
                                   "model": {"id": "builtin/smollm2-135m-instruct", "hub": "builtin"},
                                   "dataset": {"sft": "data.jsonl"}})
    shape = shape_of(QWEN25_05B)
    st = settings_for(spec, gpus(1, 24.0), shape)
    fresh = disk(spec, tmp_path / "j", shape, count_params(shape), st, 100.0, downloaded=False)
    assert fresh.download_gb == pytest.approx(0.494 * 4, rel=0.01)
    present = disk(spec, tmp_path / "j", shape, count_params(shape), st, 100.0, downloaded=True)
    assert present.download_gb == 0.0 and present.total_gb == pytest.approx(fresh.total_gb - fresh.download_gb, abs=0.01)
