"""Export pieces that need no model: the group size, the calibration split, the stage contract, the card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.errors import UserError
from engine.export import calibration, card, groups, texts, verify
from engine.spec import JobSpec
from engine.stages import export as stage
from tests.helpers.jobs import toy_sft_rows, write_jsonl


def spec_of(tmp_path: Path, **export) -> JobSpec:
    data = write_jsonl(tmp_path / "toy.jsonl", toy_sft_rows(40))
    job = {"name": "ex", "task": "sft", "model": {"id": "Org/Model"}, "dataset": {"sft": str(data)},
           "export": export}
    return JobSpec.model_validate(job)


@pytest.mark.parametrize(
    ("widths", "expected"),
    [
        ({"q": 64, "down": 128}, 64),          # the tiny test model
        ({"q": 576, "down": 1536}, 64),        # SmolLM2-135M: 576 = 9 × 64
        ({"q": 4096, "down": 11008}, 128),     # Llama-2-7B
        ({"q": 96, "down": 4096}, 32),
    ],
)
def test_auto_group_size_is_the_largest_of_128_64_32_that_divides_every_width(widths, expected):
    size, reason = groups.choose_group_size("auto", widths)
    assert size == expected
    assert f"group size {expected}" in reason and "divides" in reason


def test_no_group_size_fits_odd_widths_and_the_message_names_the_field_and_layer():
    with pytest.raises(UserError) as info:
        groups.choose_group_size("auto", {"model.layers.0.q_proj": 64, "model.layers.0.down_proj": 100})
    assert "export.group_size" in str(info.value) and "down_proj (100)" in str(info.value)


def test_an_explicit_group_size_that_does_not_divide_is_refused_with_the_one_that_would():
    with pytest.raises(UserError) as info:
        groups.choose_group_size(128, {"q_proj": 64, "down_proj": 128})
    text = str(info.value)
    assert text.startswith("export.group_size: 128 does not divide") and "q_proj (64)" in text
    assert "use 64 or auto" in text
    assert groups.choose_group_size(32, {"q_proj": 64})[0] == 32


def test_held_out_rows_are_never_used_for_calibration(tmp_path: Path):
    spec = spec_of(tmp_path, calibration_samples=100)
    calib = calibration.select(spec)
    assert len(calib.held_out) == 8 and len(calib.calibration) == 32  # 40 rows: 8 held out, the rest calibrate
    ids = {id(s) for s in calib.calibration}
    assert not any(id(s) in ids for s in calib.held_out)
    assert "the job's SFT data" in calib.source
    assert len(calibration.select(spec_of(tmp_path, calibration_samples=5)).calibration) == 5


def test_a_job_without_training_data_calibrates_on_the_built_in_text():
    spec = JobSpec.model_validate({"name": "q", "task": "export", "model": {"id": "Org/Model"}})
    calib = calibration.select(spec)
    assert texts.NAME in calib.source and calib.held_out and calib.calibration
    assert all(isinstance(s, str) for s in calib.calibration)


def test_a_calibration_file_of_plain_text_or_chats_is_read(tmp_path: Path):
    text_file = tmp_path / "calib.txt"
    text_file.write_text("first line of text\n\nsecond line\nthird\nfourth\n", encoding="utf-8")
    spec = spec_of(tmp_path, calibration_dataset=str(text_file))
    calib = calibration.select(spec)
    assert sorted([*calib.held_out, *calib.calibration]) == ["first line of text", "fourth", "second line", "third"]
    rows = write_jsonl(tmp_path / "rows.jsonl", [{"text": f"row {i}"} for i in range(6)])
    assert len(calibration.select(spec_of(tmp_path, calibration_dataset=str(rows))).calibration) == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "export.calibration_dataset: "),
        ([{"prompt": "p", "chosen": "a", "rejected": "b"}] * 3, "needs plain text"),
        ([{"text": "only one row"}], "at least 2"),
    ],
)
def test_unusable_calibration_data_is_a_user_error_naming_the_field(tmp_path: Path, content, message):
    path = tmp_path / "calib.jsonl"
    if content is not None:
        write_jsonl(path, content)
    with pytest.raises(UserError) as info:
        calibration.select(spec_of(tmp_path, calibration_dataset=str(path)))
    assert message in str(info.value)


def test_the_prompt_shown_is_the_last_user_turn_before_the_answer():
    chat = [{"role": "system", "content": "s"}, {"role": "user", "content": "Who are you?"},
            {"role": "assistant", "content": "Hammer."}]
    assert calibration.shown_prompt(chat) == "Who are you?"
    assert calibration.shown_prompt("one two three four") == "one two"


def test_export_reruns_when_its_calibration_data_changes_but_not_for_deploy_settings(tmp_path: Path):
    spec = spec_of(tmp_path)
    other_data = spec.model_copy(update={"dataset": spec.dataset.model_copy(update={"max_samples": 10})})
    other_port = spec.model_copy(update={"deploy": spec.deploy.model_copy(update={"port": 9000})})
    assert stage.spec_slice(spec) != stage.spec_slice(other_data)
    assert stage.spec_slice(spec) == stage.spec_slice(other_port)
    assert stage.outputs(spec, tmp_path)[-1] == tmp_path / "export" / "report.json"


def test_both_methods_are_available_and_none_drops_the_stage(tmp_path: Path):
    assert stage.unavailable(spec_of(tmp_path)) is None
    assert stage.unavailable(spec_of(tmp_path, method="bnb-4bit")) is None
    assert "export" not in spec_of(tmp_path, method="none").stage_names()
    with pytest.raises(ValueError, match="bnb-4bit export writes 4-bit"):
        spec_of(tmp_path, method="bnb-4bit", bits=8)


def fake_report(method: str = "awq") -> dict:
    return {
        "source_dir": "/jobs/x/merged",
        "size": {"source_bytes": 538_000_000, "export_bytes": 173_000_000, "compression_ratio": 3.11},
        "quantization": {"bits": 4, "group_size": 64 if method == "awq" else None, "symmetric": True if method == "awq" else None,
                         "format": "compressed-tensors (pack-quantized)", "not_quantized": ["lm_head"]},
        "calibration": {"source": "data.jsonl", "samples": 16, "tokens": 900, "max_length": 64, "held_out_rows": 8},
        "quality": {"ppl_source": 5.1, "ppl_export": 5.4, "ppl_ratio": 1.06, "logit_cosine": 0.98,
                    "top1_agreement": 0.9, "prompt": "你是谁？", "generation_source": "我是小锤",
                    "generation_export": "我是小锤。"},
    }


def test_the_model_card_names_the_model_data_quality_and_how_to_serve_it(tmp_path: Path):
    spec = spec_of(tmp_path).model_copy(update={"name": "ex"})
    text = card.render(spec, fake_report(), Path("/srv/my models/ex/export"))
    assert text.startswith("---\nbase_model: \"Org/Model\"")
    assert "toy.jsonl" in text and "LoRA r 8" in text
    assert "| group size | 64 |" in text and "lm_head" in text
    assert "5.1 → 5.4 (ratio 1.06, allowed ≤ 1.2)" in text and "538.0 MB → 173.0 MB" in text
    assert '"我是小锤"' in text  # readable, not \\u escapes
    assert "vllm serve '/srv/my models/ex/export' --served-model-name ex --api-key \"${YCDY_API_KEY}\"" in text
    assert "./yichuidingyin.sh serve '/srv/my models/ex/export'" in text


def test_a_bnb_card_tells_vllm_how_to_load_it(tmp_path: Path):
    spec = spec_of(tmp_path, method="bnb-4bit")
    text = card.render(spec, fake_report("bnb-4bit"), Path("/e"))
    assert "--quantization bitsandbytes" in text and "blocks of 64 (nf4)" in text


def test_a_card_for_a_rounded_export_says_why_awq_did_not_ship(tmp_path: Path):
    report = fake_report()
    report["quantization"] |= {"algorithm": "rtn", "candidates": {
        "awq": {"ppl_export": 87.3, "ppl_ratio": 1.54, "logit_cosine": 0.84},
        "rtn": {"ppl_export": 63.6, "ppl_ratio": 1.12, "logit_cosine": 0.85}}}
    text = card.render(spec_of(tmp_path), report, Path("/e"))
    assert "W4A16 4-bit (round-to-nearest)" in text
    assert "AWQ's scales left perplexity at 1.54× the source's, plain rounding to the same groups at 1.12×" in text


def test_plain_rounding_replaces_awq_only_when_clearly_closer_to_the_source():
    def f(ppl):
        return {"ppl_export": ppl}

    assert verify.clearly_better(f(63.6), f(87.3))
    assert not verify.clearly_better(f(87.8), f(88.3))  # 0.6 %: noise, AWQ stays
    assert verify.clearly_better(f(90.0), f(None)) and not verify.clearly_better(f(None), f(90.0))


def test_the_card_template_has_no_holes(tmp_path: Path):
    report = fake_report()
    del report["quality"]["top1_agreement"]
    with pytest.raises(KeyError):
        card.render(spec_of(tmp_path), report, Path("/e"))
    json.dumps(card.context(spec_of(tmp_path), fake_report(), Path("/e")))  # everything in it is plain data
