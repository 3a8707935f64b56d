"""The eval stage and the export gate on a vision-language model: held-out image rows scored with their pictures.

One module-scoped job fully fine-tunes a tiny random Qwen2-VL to name the colour of a square (the
learning set of tests/helpers/vlm_learning.py), then its eval stage scores base and fine-tuned on
held-out squares and on a shipped text benchmark. The fine-tuned model must beat its base there and
fall back when the same rows are asked without their pictures; an export whose language-model head
was tampered with must fail the behaviour gate, and the ladder's next candidate ship.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from engine.eval.report import recompute
from engine.pipeline import run_job
from engine.spec import JobSpec
from tests.helpers.vlm_learning import write_squares

pytestmark = pytest.mark.slow  # every test here trains, scores or exports a tiny VLM
HELD_OUT = 12


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """jobs/squares/: download → sft (full, 100 steps on 300 squares) → eval (12 held-out squares + mcq-en)."""
    from engine.tiny_vlm import build_tiny_vlm

    root = tmp_path_factory.mktemp("eval-vlm")
    model = build_tiny_vlm(root / "qwen2-vl", "qwen2-vl")
    train, _ = write_squares(root / "data", 300, "train", seed=1)
    held_out, _ = write_squares(root / "data", HELD_OUT, "heldout", seed=2)
    spec = JobSpec.model_validate({
        "name": "squares", "task": "sft", "stages": ["download", "sft", "eval"],
        "model": {"id": str(model), "hub": "local"},
        "dataset": {"sft": str(train)},
        "train": {"method": "full", "max_steps": 100, "batch_size": 8, "grad_accum": 1, "learning_rate": 0.002,
                  "lr_scheduler": "constant", "warmup_ratio": 0.0, "max_length": 64, "save_steps": 1000},
        "eval": {"dataset": str(held_out), "benchmarks": ["mcq-en"], "limit": HELD_OUT, "max_new_tokens": 4},
    })
    job_dir = root / "jobs" / "squares"
    run_job(spec, job_dir)
    return job_dir


def test_the_eval_stage_scores_held_out_image_rows_for_base_and_fine_tuned(learned: Path):
    report = json.loads((learned / "eval" / "report.json").read_text())
    assert list(report["models"]) == ["base", "fine-tuned"] and "skipped" not in report
    held = report["scores"]["held-out"]
    assert held["base"]["n"] == held["fine-tuned"]["n"] == HELD_OUT
    assert held["fine-tuned"]["exact_match"] >= 0.9, held  # the colour, and nothing else
    assert held["base"]["exact_match"] == 0.0 and held["fine-tuned"]["contains"] > held["base"]["contains"]
    assert held["fine-tuned"]["perplexity"] < held["base"]["perplexity"]
    assert report["scores"]["mcq-en"]["base"]["n"] == 12  # text benchmarks go through the same processor
    lines = [json.loads(x) for x in (learned / "eval" / "generations.jsonl").read_text().splitlines()]
    image_rows = [x for x in lines if x["benchmark"] == "held-out"]
    assert all(len(x["images"]) == 1 and Path(x["images"][0]).is_file() for x in image_rows)
    assert all(x["prompt"].startswith("<image>") for x in image_rows)
    assert recompute(learned / "eval" / "generations.jsonl") == report["scores"]


def test_the_fine_tuned_vlm_beats_its_base_through_the_runner_and_needs_the_pixels(learned: Path):
    from engine.eval.benchmarks import held_out
    from engine.eval.image_items import without_images
    from engine.eval.items import Benchmark
    from engine.eval.score import Settings, score_model

    spec = JobSpec.model_validate(yaml.safe_load((learned / "job.yaml").read_text()))
    (rows,) = held_out(spec)
    blind = Benchmark("blind", "heldout", "no pictures", [
        type(it)(it.id, without_images(it.prompt), it.reference) for it in rows.items])
    settings = Settings(max_new_tokens=4, batch_size=4)
    tuned = score_model(learned / "sft", [rows, blind], settings)
    base = score_model(Path(spec.model.id), [rows], settings)
    seen, unseen = tuned[rows.name]["metrics"], tuned["blind"]["metrics"]
    assert seen["exact_match"] > base[rows.name]["metrics"]["exact_match"]
    assert seen["exact_match"] >= 0.9 and unseen["exact_match"] <= 0.5, (seen, unseen)  # 3 colours: chance 1/3
    assert "images" not in tuned["blind"]["records"][0]


def test_preference_pairs_with_pictures_are_scored_by_their_answers_log_probabilities(learned: Path):
    from engine.eval.benchmarks import held_out
    from engine.eval.items import Benchmark, Item
    from engine.eval.score import Settings, score_model
    from tests.helpers.vlm_learning import COLOURS

    spec = JobSpec.model_validate(yaml.safe_load((learned / "job.yaml").read_text()))
    names = list(COLOURS)
    pairs = Benchmark("pairs", "preference", "held-out squares", [
        Item(it.id, it.prompt, it.reference, rejected=names[(names.index(it.reference) + 1) % 3])
        for it in held_out(spec)[0].items])
    result = score_model(learned / "sft", [pairs], Settings(batch_size=4))["pairs"]
    assert result["metrics"]["preference_accuracy"] >= 0.9 and result["metrics"]["reward_margin"] > 0


def test_batched_vision_scoring_matches_one_prompt_at_a_time_with_and_without_pictures(learned: Path):
    from engine.eval.benchmarks import held_out, resolve
    from engine.eval.runners import open_runner

    spec = JobSpec.model_validate(yaml.safe_load((learned / "job.yaml").read_text()))
    pictures = [it.prompt for it in held_out(spec)[0].items[:4]]
    text = [it.prompt for it in resolve("qa-en", spec).items[:3]]
    prompts = pictures + text  # a batch of each kind, different lengths
    answers = ["red", "green", "blue", "red", "Paris", "seven", "water"]
    batched, single = open_runner(learned / "sft", batch_size=4), open_runner(learned / "sft", batch_size=1)
    assert type(batched).__name__ == "VisionRunner"
    assert batched.generate(prompts, 4) == single.generate(prompts, 4)
    for (x, n), (y, m) in zip(batched.answer_logprobs(prompts, answers), single.answer_logprobs(prompts, answers),
                              strict=True):
        assert n == m > 0 and abs(x - y) < 1e-3


def tamper_lm_head(folder: Path) -> None:
    """Lose the trained behaviour without touching the format: rotate the output rows of the three colour words."""
    from safetensors.torch import load_file, save_file

    from engine.training.loading import load_processor

    tok = load_processor(folder).tokenizer
    first = [tok(word, add_special_tokens=False)["input_ids"][0] for word in ("red", "green", "blue")]
    assert len(set(first)) == 3
    for file in folder.glob("*.safetensors"):
        tensors = load_file(file)
        key = next((k for k in tensors if k.endswith("lm_head.weight")), None)
        if key is not None:
            head = tensors[key].clone()
            head[first] = tensors[key][first[1:] + first[:1]]
            tensors[key] = head
            save_file(tensors, file, metadata={"format": "pt"})


def test_the_gate_rejects_a_vlm_export_that_lost_its_answers_and_ships_w8a16_with_the_tower_kept(
    learned: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Perplexity may grow 100×, so only the behaviour score sees the damage; every 4-bit candidate is tampered.

    Calibrated on 12 squares (3 held out for the checks, 9 calibrate), group 32: the ladder is then
    AWQ → W8A16 (no smaller group, no more rows to add), which keeps the test short.
    """
    from safetensors.torch import load_file

    from engine.export import vision

    job_dir = tmp_path / "squares"
    shutil.copytree(learned, job_dir)
    calib, _ = write_squares(tmp_path / "calib", 12, "calib", seed=3)
    data = yaml.safe_load((job_dir / "job.yaml").read_text())
    data["stages"] = ["download", "sft", "export", "eval"]
    data["export"].update(calibration_dataset=str(calib), calibration_samples=9, group_size=32, max_ppl_ratio=100.0)
    real_save, bits = vision.save, []

    def save_then_tamper(model, processor, folder):
        real_save(model, processor, folder)
        config = json.loads((folder / "config.json").read_text())["quantization_config"]
        bits.append(config["config_groups"]["group_0"]["weights"]["num_bits"])
        if bits[-1] == 4:
            tamper_lm_head(folder)

    monkeypatch.setattr(vision, "save", save_then_tamper)
    run_job(JobSpec.model_validate(data), job_dir, only="export")
    report = json.loads((job_dir / "export" / "report.json").read_text())
    ladder = report["ladder"]
    assert [t["passed"] for t in ladder] == [False, True] and bits == [4, 8] and ladder[-1]["bits"] == 8
    first = ladder[0]["reasons"][0]
    assert first.startswith("export.max_score_drop: behaviour score"), first
    behaviour = report["quality"]["behaviour"]
    assert behaviour["source"]["score"] >= 60 and behaviour["source"]["score"] - ladder[0]["behaviour_score"] > 5
    assert behaviour["source"]["answers"]["held-out"][0] in ("red", "green", "blue")

    packed, source = load_file(str(job_dir / "export" / "model.safetensors")), load_file(str(job_dir / "sft" /
                                                                                              "model.safetensors"))
    kept = [k for k in source if "visual" in k or "lm_head" in k]
    assert kept and all(k in packed and (packed[k] == source[k]).all() for k in kept), "tower, projector, head as they were"
    assert any(k.endswith("weight_packed") for k in packed)
