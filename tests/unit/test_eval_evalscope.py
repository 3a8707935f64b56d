"""EvalScope as an optional backend: the config and command it builds, and one line when it cannot run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.errors import UserError
from engine.eval import evalscope
from engine.spec import JobSpec


def test_the_task_config_points_evalscope_at_our_openai_server_with_greedy_decoding(tmp_path: Path):
    config = evalscope.task_config("demo", "http://127.0.0.1:8123/", "", ["gsm8k", "ceval"], 20, tmp_path, 256, 8)
    assert config["api_url"] == "http://127.0.0.1:8123/v1" and config["eval_type"] == "openai_api"
    assert config["api_key"] == "EMPTY" and config["generation_config"]["temperature"] == 0.0
    argv = evalscope.command(config)
    assert argv[:2] == ["evalscope", "eval"]
    assert argv[argv.index("--datasets") + 1: argv.index("--datasets") + 3] == ["gsm8k", "ceval"]
    assert argv[argv.index("--limit") + 1] == "20" and argv[argv.index("--api-url") + 1] == config["api_url"]
    assert json.loads(argv[argv.index("--generation-config") + 1]) == {"temperature": 0.0, "max_tokens": 256}
    assert "--limit" not in evalscope.command({**config, "limit": None})


def test_the_server_it_starts_is_this_projects_own_on_loopback(tmp_path: Path):
    argv = evalscope.serve_command(tmp_path / "merged", 8123, "merged")
    assert argv[1:4] == ["-m", "engine", "serve"] and "--port" in argv and "--host" not in argv


def test_scores_are_read_from_evalscope_report_files(tmp_path: Path):
    folder = tmp_path / "run" / "reports" / "merged"
    folder.mkdir(parents=True)
    (folder / "gsm8k.json").write_text(json.dumps({"dataset_name": "gsm8k", "score": 0.25}))
    (folder / "broken.json").write_text("{")
    assert evalscope.read_scores(tmp_path / "run") == {"gsm8k": 0.25}


def test_without_evalscope_the_stage_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch):
    import engine.stages as stages

    monkeypatch.setattr(evalscope, "available", lambda: False)
    spec = JobSpec.model_validate({"name": "j", "task": "sft", "model": {"id": "Qwen/Qwen2.5-0.5B-Instruct"},
                                   "dataset": {"sft": "self-cognition"}, "eval": {"evalscope": ["gsm8k"]}})
    reason = stages.load("eval").unavailable(spec)
    assert reason is not None and "\n" not in reason and "yichuidingyin[evalscope]" in reason
    assert stages.load("eval").unavailable(spec.model_copy(update={"eval": spec.eval.model_copy(
        update={"evalscope": []})})) is None


def test_offline_it_stops_with_one_line_on_how_to_prefetch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(evalscope, "available", lambda: True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError) as info:
        evalscope.run(tmp_path, ["gsm8k"], None, tmp_path / "w", 64, 8)
    (line,) = info.value.lines
    assert "offline" in line and "modelscope download --dataset" in line and "HF_HUB_OFFLINE" in line
