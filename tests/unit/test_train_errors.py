"""Training settings an operator can get wrong: one line naming the field and the fix, exit 2, no
traceback — and before any model is trained."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import UserError
from engine.hardware import Gpu, Hardware, detect
from engine.training.args import precision_for
from engine.training.quant import compute_dtype_name, optimizer_name
from tests.helpers.jobs import tiny_job, write_job, write_jsonl

CPU = Hardware(cpu_cores=2)


def run(job: dict, tmp_path: Path, capsys, verb: str = "run") -> tuple[int, str]:
    job_file = write_job(tmp_path / "job.yaml", job)
    extra = ["--jobs-dir", str(tmp_path / "jobs")] if verb == "run" else []
    code = main([verb, str(job_file), *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_fsdp_on_a_machine_without_gpus_is_refused_in_plan_and_run(tmp_path: Path, tiny_model: Path, toy_data: Path,
                                                                  capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # engine.hardware.detect() sees no GPU, on any machine
    job = tiny_job(tiny_model, toy_data, parallel={"strategy": "fsdp"})
    code, text = run(job, tmp_path, capsys, verb="plan")
    assert code == 0 and "! parallel.strategy: fsdp shards the model across GPUs" in text
    code, text = run(job, tmp_path, capsys)
    assert code == 2 and "error: parallel.strategy: fsdp shards the model across GPUs" in text
    assert "Traceback" not in text


def test_kto_with_one_row_per_batch_is_refused(tmp_path: Path, tiny_model: Path, capsys):
    pref = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."}] * 4)
    job = tiny_job(tiny_model, pref, task="dpo", stages=["download", "dpo"], dataset={"sft": None, "preference": str(pref)},
                   train={"batch_size": 1}, dpo={"algorithm": "kto"})
    code, text = run(job, tmp_path, capsys)
    assert code == 2 and "error: train.batch_size: KTO compares each answer with the others in its batch" in text


def test_fp16_training_on_a_cpu_is_refused(tmp_path: Path, tiny_model: Path, toy_data: Path, capsys, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # engine.hardware.detect() sees no GPU, on any machine
    assert detect().accelerator == "cpu"
    code, text = run(tiny_job(tiny_model, toy_data, train={"precision": "fp16"}), tmp_path, capsys)
    assert code == 2 and "error: train.precision: fp16 training needs a GPU" in text and "Traceback" not in text
    assert not (tmp_path / "jobs" / "tiny" / "sft").exists()


def test_a_max_length_that_cuts_off_every_answer_says_to_raise_it(tmp_path: Path, tiny_model: Path, toy_data: Path,
                                                                   capsys):
    code, text = run(tiny_job(tiny_model, toy_data, train={"max_length": 16}), tmp_path, capsys)
    assert code == 2 and "error: train.max_length: at 16 tokens every training row is cut before its answer" in text


def test_bf16_on_a_gpu_without_it_names_the_gpu():
    from engine.spec import JobSpec

    spec = JobSpec.model_validate({"name": "p", "task": "sft", "model": {"id": "/m", "hub": "local"},
                                   "dataset": {"sft": "d.jsonl"}, "train": {"precision": "bf16"}})
    with pytest.raises(UserError, match="train.precision: Tesla T4 has no bf16"):
        precision_for(spec, Hardware(gpus=[Gpu(0, "Tesla T4", 16.0, bf16=False)]))


def test_paged_optimizers_run_plainly_on_a_cpu_and_are_refused_on_npus():
    assert optimizer_name("adamw", CPU) == ("adamw_torch", None)
    name, note = optimizer_name("paged_adamw_8bit", CPU)
    assert name == "paged_adamw_8bit" and "nothing is paged" in note
    assert optimizer_name("paged_adamw_32bit", Hardware(gpus=[Gpu(0, "A100", 80.0, True)])) == ("paged_adamw_32bit", None)
    with pytest.raises(UserError, match="train.optimizer: paged_adamw_8bit"):
        optimizer_name("paged_adamw_8bit", Hardware(npus=8))


def test_4bit_compute_is_bf16_except_on_gpus_without_it():
    assert compute_dtype_name("fp32", CPU) == "bfloat16"
    assert compute_dtype_name("auto", Hardware(gpus=[Gpu(0, "A100", 80.0, True)])) == "bfloat16"
    assert compute_dtype_name("auto", Hardware(gpus=[Gpu(0, "Tesla T4", 16.0, False)])) == "float16"
    assert compute_dtype_name("fp16", CPU) == "float16"
