"""Vision-language training through the engine on tiny random VLMs: the loss sees answers only, the vision
tower stays frozen, LoRA SFT → merge → W4A16 export reload and answer, DPO and QLoRA with images run, and
full fine-tuning learns colours from the pixels (the learning test: held-out ≥ 90 %, grey picture ≈ chance)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.pipeline import run_job
from engine.spec import JobSpec
from tests.helpers.jobs import deep_update
from tests.helpers.vlm_learning import forced_choice, write_squares

pytestmark = pytest.mark.slow  # every test here loads or trains a tiny VLM


@pytest.fixture(scope="module")
def qwen_vl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from engine.tiny_vlm import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("vlm") / "qwen2-vl", "qwen2-vl")


def vlm_job(model: Path, name: str, **overrides: object) -> JobSpec:
    job = {
        "name": name, "task": "sft", "stages": ["download", "sft"],
        "model": {"id": str(model), "hub": "local"},
        "dataset": {"sft": "shapes-vqa", "max_samples": 24},
        "train": {"max_steps": 2, "batch_size": 4, "grad_accum": 1, "learning_rate": 0.003, "max_length": 128,
                  "save_steps": 50},
        "export": {"calibration_samples": 4, "max_ppl_ratio": 100.0},
    }
    return JobSpec.model_validate(deep_update(job, overrides))


def events(job_dir: Path, stage: str) -> list[dict]:
    from engine.files import JobFiles

    lines = JobFiles(job_dir).events.read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["stage"] == stage]


def said(job_dir: Path, stage: str) -> str:
    return "\n".join(e["message"] for e in events(job_dir, stage) if e["kind"] == "log")


def tensors(folder: Path, keep) -> dict:
    from safetensors.torch import load_file

    return {k: v for k, v in load_file(str(folder / "model.safetensors")).items() if keep(k)}


def test_the_loss_sees_the_answer_only_never_the_prompt_or_the_image_tokens(qwen_vl: Path, tmp_path: Path):
    from engine.context import Context
    from engine.data.sft import load_sft
    from engine.events import EventLog
    from engine.hardware import detect
    from engine.state import State
    from engine.training import launch
    from engine.training.vision_sft import build_sft_trainer

    spec = vlm_job(qwen_vl, "labels")
    hw = detect()
    ctx = Context(spec, tmp_path, EventLog(tmp_path / "events.jsonl", enabled=False), State(tmp_path), hw, stage="sft")
    data = load_sft(spec)
    trainer, processor, _ = build_sft_trainer(spec, ctx, launch.resolve(spec, hw, tmp_path),
                                              {"base": str(qwen_vl), "checkpoints": str(tmp_path / "ck")}, data)
    rows = [trainer.train_dataset[i] for i in range(4)]
    batch = trainer.data_collator(rows)
    tok = processor.tokenizer
    image_id = processor.image_token_id
    assert (batch["input_ids"] == image_id).sum() >= 4 and "pixel_values" in batch, "the pictures are in the batch"
    for ids, labels, row in zip(batch["input_ids"], batch["labels"], rows, strict=True):
        learned = ids[labels != -100]
        answer = row["completion"][0]["content"][0]["text"]
        assert image_id not in learned.tolist()
        assert tok.decode(learned).strip() == answer + "<|im_end|>", "only the answer and its end token"
        assert tok.decode(ids[labels == -100]).count("<|im_start|>user") == 1, "the prompt is masked"


def test_lora_sft_then_merge_then_w4a16_export_reload_and_answer_an_image(qwen_vl: Path, tmp_path: Path):
    from PIL import Image
    from transformers import AutoModelForImageTextToText

    from engine.training.loading import load_processor

    spec = vlm_job(qwen_vl, "vlm-lora", stages=["download", "sft", "merge", "export"])
    job_dir = tmp_path / "jobs" / "vlm-lora"
    run_job(spec, job_dir)
    log = said(job_dir, "sft")
    assert "vision tower frozen" in log and "loss on the answers only" in log
    adapter = json.loads((job_dir / "sft" / "adapter_config.json").read_text())
    assert "language_model" in adapter["target_modules"], "adapters on the language model only"
    merged, export = job_dir / "merged", job_dir / "export"
    for name in ("preprocessor_config.json", "processor_config.json"):
        if (qwen_vl / name).is_file():
            assert (merged / name).is_file() and (export / name).is_file()
    assert (merged / "chat_template.jinja").is_file() or "chat_template" in (merged / "tokenizer_config.json").read_text()
    before = tensors(qwen_vl, lambda k: "visual" in k)
    after = tensors(merged, lambda k: "visual" in k)
    assert before.keys() == after.keys() and all((before[k] == after[k]).all() for k in before)

    config = json.loads((export / "config.json").read_text())["quantization_config"]
    assert {"lm_head", "re:.*visual.*"} <= set(config["ignore"]), "trap 1: the tower is ignored by in-memory names"
    packed = tensors(export, lambda k: True)
    assert any(".layers." in k and "visual" not in k and k.endswith("weight_packed") for k in packed)
    assert not any(("visual" in k or "lm_head" in k) and "packed" in k for k in packed), "vision tower and lm_head kept"
    assert "AWQ 4-bit: behaviour score" in said(job_dir, "export"), "the gate scores held-out image rows too"
    report = json.loads((export / "report.json").read_text())
    assert report["quality"]["behaviour"]["source"]["parts"].keys() == {"held-out"}
    assert report["quality"]["ppl_ratio"] < 1.5 and report["quality"]["prompt"].startswith("[image]")

    image = Image.new("RGB", (64, 64), (200, 20, 20))
    for folder in (merged, export):
        processor = load_processor(folder)
        model = AutoModelForImageTextToText.from_pretrained(str(folder))
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour is it?"}]}]
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        enc = processor(text=[text], images=[[image]], return_tensors="pt")
        out = model.generate(**enc, max_new_tokens=4, do_sample=False)
        assert out.shape[1] > enc["input_ids"].shape[1], f"{folder.name} generates from an image"


def test_dpo_with_images_trains_an_adapter(qwen_vl: Path, tmp_path: Path):
    spec = vlm_job(qwen_vl, "vlm-dpo", task="dpo", stages=["download", "dpo"],
                   dataset={"sft": None, "preference": "shapes-vqa-preference", "max_samples": 16},
                   dpo={"max_steps": 2})
    job_dir = tmp_path / "jobs" / "vlm-dpo"
    run_job(spec, job_dir)
    losses = [e["loss"] for e in events(job_dir, "dpo") if e["kind"] == "metric" and "loss" in e]
    assert len(losses) == 2 and all(loss == loss for loss in losses)
    assert (job_dir / "dpo" / "adapter_model.safetensors").is_file()
    assert (job_dir / "dpo" / "processor_config.json").is_file() or (job_dir / "dpo" / "preprocessor_config.json").is_file()


def test_qlora_on_a_vlm_trains_on_a_4bit_language_model(qwen_vl: Path, tmp_path: Path):
    spec = vlm_job(qwen_vl, "vlm-qlora", train={"method": "qlora"})
    job_dir = tmp_path / "jobs" / "vlm-qlora"
    run_job(spec, job_dir)
    log = said(job_dir, "sft")
    assert "language model loaded 4bit" in log
    losses = [e["loss"] for e in events(job_dir, "sft") if e["kind"] == "metric" and "loss" in e]
    assert len(losses) == 2
    assert (job_dir / "sft" / "adapter_model.safetensors").is_file()


def test_full_fine_tuning_learns_colours_from_the_pixels_with_the_vision_tower_frozen(qwen_vl: Path, tmp_path: Path):
    train_file, _ = write_squares(tmp_path / "data", 300, "train", seed=1)
    _, held_out = write_squares(tmp_path / "data", 30, "heldout", seed=2)
    spec = vlm_job(qwen_vl, "vlm-learn", dataset={"sft": str(train_file), "max_samples": None},
                   train={"method": "full", "max_steps": 100, "batch_size": 8, "learning_rate": 0.002,
                          "lr_scheduler": "constant", "warmup_ratio": 0.0, "max_length": 64, "save_steps": 1000})
    job_dir = tmp_path / "jobs" / "vlm-learn"
    run_job(spec, job_dir)
    trained = job_dir / "sft"
    before = tensors(qwen_vl, lambda k: True)
    after = tensors(trained, lambda k: True)
    tower = [k for k in before if "visual" in k]
    assert tower and all((before[k] == after[k]).all() for k in tower), "the frozen vision tower did not move"
    assert any(not (before[k] == after[k]).all() for k in before if "visual" not in k), "the language model learned"
    accuracy = forced_choice(trained, held_out, tmp_path / "data")
    blind = forced_choice(trained, held_out, tmp_path / "data", grey=True)
    assert accuracy >= 0.9, f"held-out accuracy {accuracy:.0%}"
    assert blind <= 0.5, f"with a grey picture the model should guess (chance 33 %), got {blind:.0%}"


@pytest.mark.parametrize("family", ["internvl", "llava"])
def test_w4a16_export_of_families_whose_vision_tower_reuses_q_proj_keeps_the_tower(family: str, tmp_path: Path):
    """Trap 3: AWQ's default mappings would also match the tower's q_proj; scoped, only the language model moves."""
    from engine.registry.targets import PROJECTOR, VISION_TOWER
    from engine.tiny_vlm import build_tiny_vlm

    model = build_tiny_vlm(tmp_path / family, family)
    spec = vlm_job(model, f"export-{family}", task="export", stages=["download", "export"])
    job_dir = tmp_path / "jobs" / spec.name
    run_job(spec, job_dir)
    packed = tensors(job_dir / "export", lambda k: True)
    source = tensors(model, lambda k: True)
    vision = [k for k in source if any(p in k.split(".") for p in (*VISION_TOWER, *PROJECTOR))]
    assert vision and all(k in packed and (packed[k] == source[k]).all() for k in vision), "tower and projector as they were"
    assert any(k.endswith("weight_packed") for k in packed)
    assert json.loads((job_dir / "export" / "report.json").read_text())["quality"]["ppl_ratio"] < 1.5


def test_lora_adapters_land_in_the_language_model_unless_the_tower_is_unfrozen_and_listed(qwen_vl: Path):
    from peft import get_peft_model

    from engine.hardware import detect
    from engine.registry.targets import vision_part
    from engine.training.loading import load_vision_model
    from engine.training.vision_sft import peft_config_for

    def adapted(**train: object) -> dict[str, set[str]]:
        spec = vlm_job(qwen_vl, "targets", train=train)
        model = load_vision_model(qwen_vl, spec, detect(), "fp32")
        peft = get_peft_model(model, peft_config_for(spec, qwen_vl, model))
        names = [n for n, p in peft.named_parameters() if p.requires_grad]
        return {part: {n for n in names if (vision_part(n) or "language") == part}
                for part in ("language", "tower", "projector")}

    default = adapted(lora={"target_modules": "all-linear"})
    assert default["language"] and not default["tower"] and not default["projector"]
    listed = adapted(lora={"target_modules": ["q_proj", "qkv"]}, vision={"freeze_vision_tower": False})
    assert listed["tower"] and all("lora_" in n for n in listed["tower"]), "asked for: adapters in the tower too"
    projector = adapted(vision={"freeze_projector": False})
    assert projector["projector"] and not projector["tower"], "an unfrozen projector trains whole beside the adapter"


def test_two_ddp_processes_train_a_vlm_in_step(cli, qwen_vl: Path, tmp_path: Path):
    from tests.helpers.jobs import write_job

    spec = vlm_job(qwen_vl, "vlm-ddp", parallel={"strategy": "ddp", "num_processes": 2})
    job_file = write_job(tmp_path / "job.yaml", spec.model_dump(mode="json", exclude_none=True))
    cpu_only = {"CUDA_VISIBLE_DEVICES": ""}
    plan = cli("plan", str(job_file), cwd=tmp_path, env=cpu_only)
    assert plan.returncode == 0 and "ddp, 2 processes (gloo)" in plan.stdout, plan.stdout + plan.stderr
    result = cli("run", str(job_file), "--jobs-dir", str(tmp_path / "jobs"), cwd=tmp_path, env=cpu_only)
    job_dir = tmp_path / "jobs" / "vlm-ddp"
    log = (job_dir / "logs" / "sft.log").read_text() if (job_dir / "logs" / "sft.log").exists() else ""
    assert result.returncode == 0, result.stderr + log
    ranks = dict(re.findall(r"rank (\d) of 2: 2 steps, trained-weights checksum (-?[0-9]+\.[0-9]+)", log))
    assert set(ranks) == {"0", "1"} and ranks["0"] == ranks["1"], log
    assert "vision tower frozen" in said(job_dir, "sft")
    assert (job_dir / "sft" / "adapter_model.safetensors").is_file()


def test_a_killed_vlm_run_resumes_from_its_last_checkpoint_and_replays_the_same_losses(qwen_vl: Path, tmp_path: Path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from engine.training import checkpoints
    from tests.conftest import ROOT
    from tests.helpers.jobs import write_job

    total, every = 8, 2
    spec = vlm_job(qwen_vl, "vlm-resume", train={"max_steps": total, "save_steps": every})
    job_file = write_job(tmp_path / "job.yaml", spec.model_dump(mode="json", exclude_none=True))
    job_dir = tmp_path / "jobs" / "vlm-resume"
    folder = job_dir / "checkpoints" / "sft"
    argv = [sys.executable, "-m", "engine", "run", str(job_file), "--jobs-dir", str(tmp_path / "jobs")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def losses() -> dict[int, float]:
        if not (job_dir / "events.jsonl").exists():
            return {}
        out = {}
        for line in (job_dir / "events.jsonl").read_text().splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if e["stage"] == "sft" and e["kind"] == "metric" and "loss" in e:
                out[e["step"]] = e["loss"]
        return out

    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # kill once a checkpoint is complete and a later step is logged
        done = checkpoints.latest(folder)
        if done is not None and max(losses(), default=0) > checkpoints.step_of(done):
            break
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed = losses()
    resume_at = checkpoints.step_of(checkpoints.latest(folder))
    assert 0 < resume_at < total

    rerun = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming from checkpoint-{resume_at}" in said(job_dir, "sft")
    replayed = losses()  # the rerun's steps overwrite the killed run's in this dict
    overlap = [s for s in killed if s > resume_at]
    assert overlap, "the killed run had logged steps past its last checkpoint"
    lines = [json.loads(x) for x in (job_dir / "events.jsonl").read_text().splitlines() if x.strip().endswith("}")]
    second = [e for e in lines if e["stage"] == "sft" and e["kind"] == "metric" and "loss" in e][len(killed):]
    again = {e["step"]: e["loss"] for e in second}
    for step in overlap:
        assert abs(killed[step] - again[step]) < 1e-5, (step, killed[step], again[step])
    assert max(replayed) == total
    record = json.loads((job_dir / "state.json").read_text())["stages"]["sft"]
    assert record["status"] == "done" and record["outputs"]["resumed_from_step"] == resume_at
