"""The export stage on the tiny model, through the real CLI and the real llm-compressor / bitsandbytes.

One module-scoped job trains the tiny model (full fine-tune, a few seconds) so that it has learned
something a broken export can lose; the AWQ export of it is then reloaded, compared and reported.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from engine.errors import UserError
from engine.spec import JobSpec
from tests.conftest import run_cli
from tests.helpers.jobs import tiny_job, toy_sft_rows, write_job, write_jsonl

pytestmark = pytest.mark.slow
CALIBRATION = {"calibration_samples": 8, "calibration_max_length": 32}


def events_of(job_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (job_dir / "events.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained_export(tiny_model_session: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """jobs/learned/: download → sft (full, 40 steps) → export (AWQ), run once for the module."""
    root = tmp_path_factory.mktemp("export")
    data = write_jsonl(root / "toy.jsonl", toy_sft_rows())
    job = tiny_job(
        tiny_model_session, data, name="learned", stages=["download", "sft", "export"],
        train={"method": "full", "max_steps": 40, "learning_rate": 0.003, "lr_scheduler": "constant",
               "warmup_ratio": 0.0, "save_steps": 100},
        export=CALIBRATION,
    )
    job_file = write_job(root / "job.yaml", job)
    result = run_cli("run", str(job_file), cwd=root)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "| WARNING -" not in result.stdout and "| INFO -" not in result.stdout  # llm-compressor's own log lines
    assert "Calibrating" not in result.stderr and "it/s]" not in result.stderr  # and its progress bars stay out
    return root / "jobs" / "learned"


def test_the_awq_export_reloads_generates_and_reports_real_figures(trained_export: Path):
    export, source = trained_export / "export", trained_export / "sft"
    report = json.loads((export / "report.json").read_text())

    config = json.loads((export / "config.json").read_text())["quantization_config"]
    assert config["quant_method"] == "compressed-tensors" and config["format"] == "pack-quantized"
    weights = config["config_groups"]["group_0"]["weights"]
    assert (weights["num_bits"], weights["group_size"], weights["symmetric"]) == (4, 64, True)
    assert config["ignore"] == ["lm_head"]

    size = report["size"]
    assert size["source_bytes"] == sum(f.stat().st_size for f in source.glob("*.safetensors"))
    assert size["export_bytes"] == sum(f.stat().st_size for f in export.glob("*.safetensors"))
    assert size["export_bytes"] < size["source_bytes"]
    assert size["compression_ratio"] == pytest.approx(size["source_bytes"] / size["export_bytes"], rel=1e-3)

    q = report["quality"]
    assert 1.0 < q["ppl_source"] < 1e4 and 1.0 < q["ppl_export"] < 1e4
    assert q["ppl_ratio"] == pytest.approx(q["ppl_export"] / q["ppl_source"], rel=1e-4)
    assert q["ppl_ratio"] <= 1.2 and q["passed"] is True
    assert 0.9 < q["logit_cosine"] <= 1.0
    assert q["generation_source"].startswith("The color is") and q["generation_export"]
    assert report["quantization"]["group_size"] == 64 and report["calibration"]["samples"] == 8
    found = report["quantization"]["candidates"]  # AWQ and plain rounding, both measured
    assert report["quantization"]["algorithm"] in ("awq", "rtn")
    assert all(1.0 < found[k]["ppl_export"] < 1e4 for k in ("awq", "rtn"))
    assert q["ppl_export"] == found[report["quantization"]["algorithm"]]["ppl_export"]
    assert report["calibration"]["held_out_rows"] == 8 and report["seconds"]["total"] > 0

    kinds = events_of(trained_export)
    layer_events = [e for e in kinds if e["stage"] == "export" and e.get("unit") == "layer"]
    assert layer_events and layer_events[-1]["step"] == layer_events[-1]["total"] == 3  # 2 layers + the head
    assert any(e.get("group_size") == 64 and "largest of 128, 64, 32" in e["message"] for e in kinds)

    readme = (export / "README.md").read_text()
    assert str(JobSpec.model_validate(yaml.safe_load((trained_export / "job.yaml").read_text())).model.id) in readme
    assert f"vllm serve {export}" in readme and f"./yichuidingyin.sh serve {export}" in readme

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(export)
    model = AutoModelForCausalLM.from_pretrained(export)
    ids = tok.apply_chat_template([{"role": "user", "content": "Say the color blue."}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=6, do_sample=False)
    assert tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).startswith("The color")


def scramble_scales(folder: Path) -> None:
    """Really break a saved AWQ checkpoint: every group scale gets a random sign and 10× its size."""
    import torch
    from safetensors.torch import load_file, save_file

    for file in folder.glob("*.safetensors"):
        tensors = load_file(file)
        gen = torch.Generator().manual_seed(0)
        for key, value in tensors.items():
            if key.endswith("weight_scale"):
                signs = torch.randint(0, 2, value.shape, generator=gen).to(value.dtype) * 2 - 1
                tensors[key] = value * signs * 10
        save_file(tensors, file, metadata={"format": "pt"})


def _copy_job(trained_export: Path, tmp_path: Path, **export: object) -> tuple[Path, JobSpec]:
    job_dir = tmp_path / "learned"
    shutil.copytree(trained_export, job_dir)
    shutil.rmtree(job_dir / "export")
    data = yaml.safe_load((job_dir / "job.yaml").read_text())
    data["export"].update(export)
    return job_dir, JobSpec.model_validate(data)


def test_the_gate_rejects_exports_whose_weights_were_broken_after_every_rung_of_the_ladder(
    trained_export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from engine.export import awq
    from engine.pipeline import run_job
    from engine.state import State

    job_dir, spec = _copy_job(trained_export, tmp_path)
    real_save, saved = awq.save, []

    def save_then_break(model, tokenizer, folder):
        real_save(model, tokenizer, folder)
        saved.append(json.loads((folder / "config.json").read_text())["quantization_config"])
        scramble_scales(folder)

    monkeypatch.setattr(awq, "save", save_then_break)
    with pytest.raises(UserError) as info:
        run_job(spec, job_dir, only="export")
    first = info.value.lines[0]
    assert first.startswith("export.max_ppl_ratio: perplexity") and "above 1.2×" in first
    assert "tried: AWQ 4-bit, AWQ group 32" in str(info.value) and "W8A16" in str(info.value)
    bits = [c["config_groups"]["group_0"]["weights"]["num_bits"] for c in saved]
    assert bits[-1] == 8 and set(bits[:-1]) == {4}  # every 4-bit rung (each with its rounding baseline), then 8-bit
    assert not (job_dir / "export").exists()
    assert not [p for p in job_dir.iterdir() if p.name.startswith("export.tmp")]
    rejected = json.loads((job_dir / "export.rejected.json").read_text())
    assert rejected["quality"]["passed"] is False and rejected["quality"]["ppl_ratio"] > 1.2
    assert [t["passed"] for t in rejected["ladder"]] == [False] * len(rejected["ladder"])
    assert State.load(job_dir).stage("export")["status"] == "failed"


def test_an_export_that_keeps_its_perplexity_but_loses_its_answers_fails_and_the_next_rung_ships(
    trained_export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Perplexity allowed to grow 100×, so only the behaviour score can see the damage."""
    from engine.export import awq
    from engine.pipeline import run_job

    job_dir, spec = _copy_job(trained_export, tmp_path, max_ppl_ratio=100.0)
    real_save, calls = awq.save, []

    def break_the_first_candidate(model, tokenizer, folder):
        real_save(model, tokenizer, folder)
        calls.append(folder)
        if len(calls) <= 2:  # AWQ group 64 and its plain-rounding baseline
            scramble_scales(folder)

    monkeypatch.setattr(awq, "save", break_the_first_candidate)
    run_job(spec, job_dir, only="export")
    report = json.loads((job_dir / "export" / "report.json").read_text())
    ladder = report["ladder"]
    assert [t["passed"] for t in ladder] == [False, True]
    assert ladder[0]["reasons"][0].startswith("export.max_score_drop: behaviour score")
    assert ladder[1]["candidate"] == "AWQ group 32" and report["quantization"]["group_size"] == 32
    behaviour = report["quality"]["behaviour"]
    assert behaviour["source"]["score"] - behaviour["export"]["score"] <= 5.0
    assert behaviour["source"]["score"] - ladder[0]["behaviour_score"] > 5.0
    card = (job_dir / "export" / "README.md").read_text()
    assert "AWQ group 32" in card and "not kept: export.max_score_drop" in card


def test_when_awq_loses_to_plain_rounding_the_rounded_export_ships_and_says_so(
    trained_export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from engine.export import awq
    from engine.pipeline import run_job

    job_dir = tmp_path / "learned"
    shutil.copytree(trained_export, job_dir)
    spec = JobSpec.model_validate(yaml.safe_load((job_dir / "job.yaml").read_text()))
    real_save, calls = awq.save, []

    def break_only_the_awq_candidate(model, tokenizer, folder):
        real_save(model, tokenizer, folder)
        calls.append(folder)
        if len(calls) == 1:
            scramble_scales(folder)

    monkeypatch.setattr(awq, "save", break_only_the_awq_candidate)
    run_job(spec, job_dir, only="export")
    assert len(calls) == 2
    report = json.loads((job_dir / "export" / "report.json").read_text())
    assert report["quantization"]["algorithm"] == "rtn" and report["quality"]["passed"]
    found = report["quantization"]["candidates"]
    assert found["awq"]["ppl_ratio"] > 1.2 >= found["rtn"]["ppl_ratio"] == report["quality"]["ppl_ratio"]
    assert "round-to-nearest: AWQ's scales left perplexity" in (job_dir / "export" / "README.md").read_text()
    assert not [p for p in job_dir.iterdir() if p.name.startswith("export.tmp")]


def test_task_export_of_a_local_model_writes_bnb_4bit_that_loads_4bit(cli, tmp_path: Path, tiny_model: Path):
    job = {"name": "bnb", "task": "export", "stages": ["download", "export"],
           "model": {"id": str(tiny_model), "hub": "local"}, "export": {"method": "bnb-4bit", **CALIBRATION}}
    result = cli("run", str(write_job(tmp_path / "job.yaml", job)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    export = tmp_path / "jobs" / "bnb" / "export"
    config = json.loads((export / "config.json").read_text())["quantization_config"]
    assert config["quant_method"] == "bitsandbytes" and config["load_in_4bit"] is True
    report = json.loads((export / "report.json").read_text())
    assert report["method"] == "bnb-4bit" and report["calibration"]["samples"] == 0
    assert "generic-text" in report["calibration"]["source"]  # held-out rows from the built-in set
    assert report["size"]["export_bytes"] < report["size"]["source_bytes"] and report["quality"]["passed"]
    assert "--quantization bitsandbytes" in (export / "README.md").read_text()


def test_task_export_with_an_explicit_group_size_uses_it_and_one_that_does_not_divide_fails(
    cli, tmp_path: Path, tiny_model: Path
):
    job = {"name": "g", "task": "export", "stages": ["download", "export"],
           "model": {"id": str(tiny_model), "hub": "local"}, "export": {"group_size": 32, **CALIBRATION}}
    job_file = write_job(tmp_path / "job.yaml", job)
    ok = cli("run", str(job_file), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr + ok.stdout
    config = json.loads((tmp_path / "jobs" / "g" / "export" / "config.json").read_text())
    assert config["quantization_config"]["config_groups"]["group_0"]["weights"]["group_size"] == 32

    from engine.pipeline import run_job  # in-process: the CLI's exit 2 for a UserError is tested elsewhere

    job["export"]["group_size"] = 128  # the tiny model's attention layers are 64 wide
    job_dir = tmp_path / "jobs" / "g"
    with pytest.raises(UserError) as info:
        run_job(JobSpec.model_validate(job), job_dir)
    assert str(info.value).startswith("export.group_size: 128 does not divide") and "use 64 or auto" in str(info.value)
    assert not (job_dir / "export").exists(), "an export made under other settings was left behind"
    assert json.loads((job_dir / "state.json").read_text())["stages"]["export"]["status"] == "failed"


def test_the_w8a16_method_rounds_to_8_bits_without_calibration_and_is_the_ladders_last_word(
    trained_export: Path, tmp_path: Path
):
    from engine.pipeline import run_job

    job_dir, spec = _copy_job(trained_export, tmp_path, method="w8a16")
    assert spec.export.bits is None  # the method's own: a job never has to spell out 8
    run_job(spec, job_dir, only="export")
    export = job_dir / "export"
    weights = json.loads((export / "config.json").read_text())["quantization_config"]["config_groups"]["group_0"]
    assert weights["weights"]["num_bits"] == 8 and weights["weights"]["symmetric"] is True
    report = json.loads((export / "report.json").read_text())
    assert report["method"] == "w8a16" and report["quantization"]["algorithm"] == "rtn"
    assert report["calibration"]["samples"] == 0 and report["quality"]["passed"]
    assert [t["bits"] for t in report["ladder"]] == [8]  # nothing above 8 bits to climb to
    assert report["quality"]["ppl_ratio"] < 1.05  # 8 bits keep almost everything on the learned tiny model
    assert "W8A16 8-bit" in (export / "README.md").read_text()

