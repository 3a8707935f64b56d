"""Fuzz the job loader and validator: whatever the bytes, the answer is a clean UserError or a valid job.

Never another exception (which the CLI would show as a traceback), never a hang, one line per problem.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import UserError
from engine.render import load_job, parse_yaml, render_job, spec_from_mapping
from engine.spec import JobSpec

VALID = {
    "name": "fuzz",
    "task": "sft+dpo",
    "model": {"id": "Qwen/Qwen2.5-0.5B-Instruct", "hub": "modelscope", "revision": "master"},
    "dataset": {"sft": "d.jsonl", "preference": "p.jsonl", "max_samples": 100, "val_ratio": 0.1},
    "train": {"method": "lora", "lora": {"r": 8, "target_modules": ["q_proj"]}, "learning_rate": 1e-4},
    "parallel": {"strategy": "ddp", "num_processes": 2},
    "export": {"method": "awq", "group_size": 64},
    "deploy": {"port": 8000, "host": "127.0.0.1"},
}
DEEP = "a: " + "[" * 5000 + "]" * 5000 + "\n"
LINE = re.compile(r"^\S+?(:\d+)?: \S+")
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
pytestmark = pytest.mark.reliability  # the README's promise: fuzzing runs under -m reliability


def judge(text: str) -> None:
    """Load like the CLI does; anything but a UserError or a valid spec fails the test.

    (How long a judgement takes is measured in bench/refusal_latency.py, not asserted here.)"""
    try:
        data, lines = parse_yaml(text, "fuzz.yaml")
        spec_from_mapping(data, "fuzz.yaml", lines)
    except UserError as exc:
        assert exc.lines and all(LINE.match(line) and "\n" not in line for line in exc.lines), exc.lines


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.text(max_size=30)
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10) | st.integers(), inner, max_size=5),
    max_leaves=25,
)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_are_refused_cleanly(tmp_path_factory, blob: bytes):
    path = tmp_path_factory.mktemp("fuzz") / "job.yaml"
    path.write_bytes(blob)
    try:
        load_job(path)
    except UserError as exc:
        assert exc.lines and all("\n" not in line for line in exc.lines)


@FUZZ
@given(st.text(max_size=2048))
def test_random_text_is_refused_cleanly(text: str):
    judge(text)


@FUZZ
@given(documents)
def test_random_yaml_documents_are_refused_cleanly(doc):
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except (yaml.YAMLError, ValueError, OverflowError):
        return
    judge(text)


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))


ALL_PATHS = list(_paths(VALID))


@FUZZ
@given(st.sampled_from(ALL_PATHS), documents, st.booleans())
def test_mutations_of_a_valid_job_are_either_valid_or_named(path, value, delete):
    job = copy.deepcopy(VALID)
    node = job
    for key in path[:-1]:
        node = node[key]
    if delete:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    try:
        text = yaml.safe_dump(job, allow_unicode=True)
    except (yaml.YAMLError, ValueError, OverflowError):
        return
    judge(text)
    try:
        spec = spec_from_mapping(yaml.safe_load(text), "fuzz.yaml")
    except UserError as exc:
        # The mutated field (or the rule it broke) is what the message names.
        assert exc.lines
        return
    assert spec_from_mapping(yaml.safe_load(render_job(spec)), "again.yaml") == spec


def test_a_deeply_nested_document_is_refused_cleanly():
    with pytest.raises(UserError):
        parse_yaml(DEEP, "deep.yaml")
    judge(DEEP)


def test_the_cli_never_shows_a_traceback_for_junk(cli, tmp_path: Path):
    samples = [b"\x00\xff" * 100, b"name: [", b"!!python/object:os.system x", b"a: &x [*x]", "名字: 任务".encode()]
    for i, blob in enumerate(samples):
        path = tmp_path / f"junk{i}.yaml"
        path.write_bytes(blob)
        result = cli("validate", str(path), cwd=tmp_path)
        assert result.returncode == 2, (blob, result.stderr)
        assert "Traceback" not in result.stderr and result.stderr.startswith("error: ")


def test_valid_job_used_by_the_fuzzer_is_valid():
    assert JobSpec.model_validate(VALID).name == "fuzz"
