"""Rendering and loading job files: comments from descriptions, exact round trips, hostile input refused."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import UserError
from engine.render import load_job, parse_yaml, render_job, spec_from_mapping
from engine.spec import JobSpec


def base_spec(**extra) -> JobSpec:
    data = {"name": "demo", "task": "sft", "model": {"id": "Qwen/Qwen2.5-0.5B-Instruct"}, "dataset": {"sft": "d.jsonl"}}
    data.update(extra)
    return JobSpec.model_validate(data)


def roundtrip(spec: JobSpec) -> JobSpec:
    data, lines = parse_yaml(render_job(spec), "job.yaml")
    return spec_from_mapping(data, "job.yaml", lines)


def test_rendered_file_has_a_header_with_the_command_and_a_comment_per_field():
    text = render_job(base_spec())
    assert "./yichuidingyin.sh run jobs/demo/job.yaml" in text
    for description in (
        JobSpec.model_fields["task"].description,
        JobSpec.model_fields["train"].annotation.model_fields["learning_rate"].description,
    ):
        assert f"# {' '.join(description.split())}" in text
    assert yaml.safe_load(text)["train"]["lora"]["r"] == 8


# Text a YAML writer most often gets wrong: quotes, colons, comment marks, newlines, YAML keywords.
tricky_text = st.one_of(
    st.sampled_from(["yes", "no", "null", "~", "true", "1e3", "0x10", "- a", "a: b", "# x", "'q'", '"q"', "@x", "`x`", "%x", "&a", "*a", "!x", "{x}", "[x]"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40),
)
slug = st.text(alphabet=string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=20).filter(
    lambda s: s[0].isalnum()
)


@st.composite
def specs(draw) -> JobSpec:
    method = draw(st.sampled_from(["lora", "qlora", "full"]))
    data = {
        "name": draw(slug),
        "task": "sft",
        "model": {"id": draw(tricky_text), "hub": "local", "trust_remote_code": draw(st.booleans())},
        "dataset": {"sft": draw(tricky_text), "max_samples": draw(st.none() | st.integers(1, 10**6)),
                    "val_ratio": draw(st.floats(0, 0.49, allow_nan=False))},
        "train": {"method": method, "learning_rate": draw(st.floats(1e-9, 1.0, exclude_min=False)),
                  "lora": {"target_modules": draw(st.sampled_from(["auto", "all-linear", ["q_proj", "v_proj"]]))},
                  "epochs": draw(st.floats(0.001, 1000)), "seed": draw(st.integers(0, 2**32 - 1))},
        "deploy": {"port": draw(st.integers(1, 65535)), "served_model_name": draw(st.none() | st.just("my-model:v1"))},
        "export": {"calibration_dataset": draw(st.none() | tricky_text)},
    }
    try:
        return JobSpec.model_validate(data)
    except Exception:
        from hypothesis import reject

        reject()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(specs())
def test_render_then_load_gives_back_the_same_spec(spec):
    assert roundtrip(spec) == spec


@pytest.mark.parametrize("value", ["yes", "null", "a: b # c", "line\nbreak", "tab\there", " lead", "引号'\"", "\u2028x", "\x85"])
def test_tricky_strings_survive(value):
    spec = base_spec(model={"id": value.strip() or "x", "hub": "local"} if "\n" not in value and ord(min(value)) >= 32 else {"id": "a/b"},
                     dataset={"sft": value})
    assert roundtrip(spec) == spec


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8)
)


def test_alias_bombs_are_refused():
    # How fast (before expanding anything) is measured in bench/refusal_latency.py, not asserted here.
    with pytest.raises(UserError, match="aliases"):
        parse_yaml(ALIAS_BOMB, "bomb.yaml")


def test_huge_files_are_refused_before_parsing(tmp_path: Path):
    path = tmp_path / "huge.yaml"
    path.write_text("name: x\n" + "#" * (300 * 1024))
    with pytest.raises(UserError, match="larger than"):
        load_job(path)


@pytest.mark.parametrize(
    ("text", "needle"),
    [("- a\n- b\n", "mapping"), ("", "empty"), ("name: [unclosed\n", "not valid YAML"), ("just text", "mapping"),
     ("a:\n" + "  " * 0 + "".join("  " * i + "- \n" for i in range(30)), "nested")],
)
def test_documents_that_are_not_a_job_get_one_line(text, needle):
    with pytest.raises(UserError) as info:
        parse_yaml(text, "bad.yaml")
    assert len(info.value.lines) == 1 and needle in info.value.lines[0]


def test_yaml_tags_that_build_python_objects_are_refused():
    with pytest.raises(UserError, match="not valid YAML"):
        parse_yaml("name: !!python/object/apply:os.system ['echo pwned']\n", "evil.yaml")


def test_errors_carry_the_line_of_the_field(tmp_path: Path):
    path = tmp_path / "job.yaml"
    path.write_text("name: demo\ntask: sft\nmodel:\n  id: a/b\ndataset:\n  sft: d.jsonl\ntrain:\n  lora:\n    r: 0\n")
    with pytest.raises(UserError) as info:
        load_job(path)
    assert info.value.lines == [f"{path}:9: train.lora.r: Input should be greater than or equal to 1 (got 0)"]


def test_relative_paths_resolve_against_the_job_files_folder(tmp_path: Path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "d.jsonl").write_text("{}\n")
    path = tmp_path / "job.yaml"
    path.write_text("name: demo\ntask: sft\nmodel: {id: ./model, hub: local}\ndataset: {sft: data/d.jsonl}\n")
    spec = load_job(path)
    assert spec.dataset.sft == str(tmp_path / "data" / "d.jsonl")
    assert spec.model.id == str(tmp_path / "model")
