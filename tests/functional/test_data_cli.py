"""Bad datasets stop `plan` with file:line messages and exit 2, before any model is touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.jobs import tiny_job, write_job

GOOD = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}


def job_with(tmp_path: Path, sft: str, **dataset) -> Path:
    model = tmp_path / "model"  # never loaded: the dataset check comes first
    model.mkdir(exist_ok=True)
    return write_job(tmp_path / "job.yaml", tiny_job(model, Path(sft), dataset={"sft": sft, **dataset}))


CASES = {
    "malformed and empty-answer lines": (
        json.dumps(GOOD) + "\n{oops\n" + json.dumps({"messages": [GOOD["messages"][0], {"role": "assistant", "content": ""}]}) + "\n",
        [":2: not valid JSON", ":3: messages[1]: empty assistant turn"],
    ),
    "a missing field": ('{"instruction": "x"}\n{"instruction": "y", "output": "z"}\n', [":1: missing field output"]),
    "a row in another format": (
        json.dumps(GOOD) + "\n" + json.dumps(GOOD) + '\n{"instruction": "y", "output": "z"}\n',
        [":3: this row is alpaca"],
    ),
    "an empty file": ("\n", [": the dataset has no rows"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_dataset_stops_plan_with_every_problem_and_exit_2(cli, tmp_path: Path, case: str):
    content, expected = CASES[case]
    data = tmp_path / "data.jsonl"
    data.write_text(content)
    result = cli("plan", str(job_with(tmp_path, str(data))), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == len(expected)
    for line, part in zip(errors, expected, strict=True):
        assert line.startswith(f"error: {data}") and part in line


def test_a_misspelt_built_in_name_suggests_the_right_one(cli, tmp_path: Path):
    result = cli("plan", str(job_with(tmp_path, "self-cogniton")), cwd=tmp_path)
    assert result.returncode == 2
    assert "did you mean the built-in dataset self-cognition?" in result.stderr


def test_plan_with_a_built_in_set_names_the_detected_format_and_rows(cli, tmp_path: Path):
    result = cli("plan", str(job_with(tmp_path, "self-cognition-mix", val_ratio=0.1)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "(messages) from builtin self-cognition-mix" in result.stdout
    assert "val_rows 11" in result.stdout
