"""The job schema: defaults, every cross-field rule, and the one-line messages it produces."""

from __future__ import annotations

import pytest

from engine.errors import UserError
from engine.render import spec_from_mapping
from engine.spec import JobSpec


def minimal(**extra):
    job = {"name": "demo", "task": "sft", "model": {"id": "Qwen/Qwen2.5-0.5B-Instruct"}, "dataset": {"sft": "d.jsonl"}}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(job.get(key), dict):
            job[key] = {**job[key], **value}
        else:
            job[key] = value
    return job


def errors_of(job) -> list[str]:
    with pytest.raises(UserError) as info:
        spec_from_mapping(job, "job.yaml")
    return info.value.lines


def test_a_job_needs_only_name_task_model_and_data():
    spec = JobSpec.model_validate(minimal())
    assert spec.model.hub == "modelscope"
    assert spec.model.trust_remote_code is False
    assert spec.deploy.host == "127.0.0.1"
    assert spec.stage_names() == ["download", "sft", "merge", "export", "eval", "deploy"]


@pytest.mark.parametrize(
    ("task", "stages"),
    [
        ("sft+dpo", ["download", "sft", "dpo", "merge", "export", "eval", "deploy"]),
        ("dpo", ["download", "dpo", "merge", "export", "eval", "deploy"]),
        ("export", ["download", "export", "deploy"]),
        ("deploy", ["download", "deploy"]),
    ],
)
def test_each_task_implies_its_stages(task, stages):
    spec = JobSpec.model_validate(minimal(task=task, dataset={"sft": "d.jsonl", "preference": "p.jsonl"}))
    assert spec.stage_names() == stages


def test_full_fine_tuning_has_nothing_to_merge_and_export_none_drops_export():
    spec = JobSpec.model_validate(minimal(train={"method": "full"}, export={"method": "none"}))
    assert spec.stage_names() == ["download", "sft", "eval", "deploy"]


def test_an_explicit_stage_list_replaces_the_tasks():
    spec = JobSpec.model_validate(minimal(stages=["download", "sft", "merge"]))
    assert spec.stage_names() == ["download", "sft", "merge"]


@pytest.mark.parametrize(
    ("stages", "needle"),
    [
        (["sft", "merge"], "sft needs a model"),
        (["download", "merge"], "merge has no adapter"),
        (["download", "sft", "export"], "export needs a full model"),
        (["download", "deploy", "export"], "order"),
        (["download", "download"], "once"),
    ],
)
def test_a_stage_whose_input_nothing_produces_is_an_error(stages, needle):
    lines = errors_of(minimal(stages=stages))
    assert any(needle in line and "stages" in line for line in lines), lines


@pytest.mark.parametrize(
    ("extra", "field", "needle"),
    [
        ({"train": {"method": "qlora", "quantization": "none"}}, "train.quantization", "4-bit"),
        ({"train": {"method": "lora", "quantization": "4bit"}}, "train.quantization", "qlora"),
        ({"train": {"method": "full", "quantization": "8bit"}}, "train.quantization", "full"),
        ({"task": "sft+dpo"}, "dataset.preference", "preference data"),
        ({"dataset": {"sft": None}}, "dataset.sft", "training data"),
        ({"export": {"bits": 8}}, "export.bits", "4"),
        ({"export": {"method": "w8a16", "bits": 4}}, "export.bits", "8"),
        ({"export": {"group_size": 100}}, "export.group_size", "32, 64, 128"),
        ({"deploy": {"port": 70000}}, "deploy.port", "65535"),
        ({"deploy": {"port": 0}}, "deploy.port", "1"),
        ({"parallel": {"nnodes": 2, "node_rank": 2}}, "parallel.node_rank", "below"),
        ({"name": "../etc"}, "name", "lowercase"),
        ({"name": "Has Space"}, "name", "lowercase"),
        ({"model": {"id": "not a hub id"}}, "model.id", "org/name"),
        ({"model": {"id": "a/b", "revision": "x; rm -rf /"}}, "model.revision", "letters"),
        ({"deploy": {"api_key_env": "MY KEY"}}, "deploy.api_key_env", "environment variable"),
        ({"deploy": {"host": "example.com"}}, "deploy.host", "IP address"),
        ({"train": {"lora": {"r": 0}}}, "train.lora.r", "greater than or equal to 1"),
        ({"train": {"learning_rate": "fast"}}, "train.learning_rate", "number"),
        ({"version": 2}, "version", "1"),
    ],
)
def test_every_rule_names_its_field(extra, field, needle):
    lines = errors_of(minimal(**extra))
    hits = [line for line in lines if f": {field}: " in line]
    assert hits, lines
    assert any(needle in line for line in hits), hits


def test_unknown_keys_are_errors_with_a_suggestion():
    lines = errors_of(minimal(train={"lerning_rate": 0.1}))
    assert lines == ["job.yaml: train.lerning_rate: unknown field; did you mean learning_rate?"]


def test_missing_required_fields_are_listed_together():
    lines = errors_of({"task": "sft"})
    assert "job.yaml: name: is required" in lines
    assert "job.yaml: model: is required" in lines


def test_five_mistakes_give_five_lines():
    job = minimal(
        name="Bad Name",
        train={"lora": {"r": -1}, "batch_size": 0, "lerning_rate": 1},
        deploy={"port": 99999},
    )
    lines = errors_of(job)
    assert len(lines) == 5, lines
    fields = {line.split(": ")[1] for line in lines}
    assert fields == {"name", "train.lora.r", "train.batch_size", "train.lerning_rate", "deploy.port"}


def test_qlora_defaults_to_a_4bit_base():
    spec = JobSpec.model_validate(minimal(train={"method": "qlora"}))
    assert spec.quantization() == "4bit"
    assert JobSpec.model_validate(minimal()).quantization() == "none"
