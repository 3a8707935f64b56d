"""The engine CLI as an operator meets it: exit codes, one-line messages, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.jobs import tiny_job, write_job


def test_validate_accepts_a_good_job(cli, tmp_path: Path, toy_data: Path, tiny_model: Path):
    job = write_job(tmp_path / "job.yaml", tiny_job(tiny_model, toy_data))
    result = cli("validate", str(job), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "download, sft, merge" in result.stdout


def test_a_job_with_five_mistakes_prints_five_lines_and_exits_2(cli, tmp_path: Path):
    job = tmp_path / "bad.yaml"
    job.write_text(
        "name: Bad Name\ntask: sft\nmodel: {id: a/b}\ndataset: {sft: d.jsonl}\n"
        "train:\n  batch_size: 0\n  lerning_rate: 1\n  lora: {r: -1}\ndeploy: {port: 99999}\n"
    )
    result = cli("validate", str(job), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 5, result.stderr
    assert all(line.startswith(f"error: {job}:") for line in lines)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("verb", ["validate", "plan", "run"])
def test_a_missing_job_file_is_a_user_error(cli, tmp_path: Path, verb: str):
    result = cli(verb, str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "no such job file" in result.stderr and "Traceback" not in result.stderr


def test_random_bytes_are_a_user_error(cli, tmp_path: Path):
    job = tmp_path / "junk.yaml"
    job.write_bytes(bytes(range(256)) * 4)
    result = cli("validate", str(job), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_every_verb_has_help(cli, tmp_path: Path):
    from engine.cli import COMMANDS

    for verb in COMMANDS:
        result = cli(verb, "--help", cwd=tmp_path)
        assert result.returncode == 0 and "usage:" in result.stdout, verb


def test_an_unknown_verb_exits_2(cli, tmp_path: Path):
    result = cli("frobnicate", cwd=tmp_path)
    assert result.returncode == 2


def test_status_of_a_folder_that_never_ran(cli, tmp_path: Path):
    result = cli("status", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and "no state.json" in result.stderr


def test_plan_shows_hardware_stages_and_outputs(cli, tmp_path: Path, toy_data: Path, tiny_model: Path):
    job = write_job(tmp_path / "job.yaml", tiny_job(tiny_model, toy_data))
    result = cli("plan", str(job), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "hardware:" in result.stdout
    for stage in ("download", "sft", "merge"):
        assert stage in result.stdout
    assert str(tmp_path / "jobs" / "tiny" / "merged") in result.stdout


def test_bad_rows_stop_plan_with_file_and_line(cli, tmp_path: Path, tiny_model: Path):
    data = tmp_path / "bad.jsonl"
    data.write_text(
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
        "{not json\n"
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]}\n'
    )
    job = write_job(tmp_path / "job.yaml", tiny_job(tiny_model, data))
    result = cli("plan", str(job), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{data}:2: not valid JSON" in result.stderr
    assert f"{data}:3:" in result.stderr and "empty assistant turn" in result.stderr
