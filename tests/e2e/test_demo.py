"""`demo --tiny`: the whole pipeline (download → sft → dpo → merge → AWQ export → deploy → ask) offline."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the whole tiny pipeline: trains, exports and serves


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_tiny_demo_runs_every_stage_serves_and_answers(cli, tmp_path: Path):
    jobs = tmp_path / "jobs"
    env = {"YCDY_CACHE": str(tmp_path / "cache"), "YCDY_API_KEY": ""}
    port = _free_port()
    result = cli("demo", "--tiny", "--port", str(port), "--jobs-dir", str(jobs), cwd=tmp_path, env=env, timeout=900)
    job_dir = jobs / "demo-tiny"
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        state = json.loads((job_dir / "state.json").read_text())
        stages = ["download", "sft", "dpo", "merge", "export", "eval", "deploy"]
        assert [s for s in stages if state["stages"][s]["status"] == "done"] == stages
        report = json.loads((job_dir / "export" / "report.json").read_text())
        assert report["quality"]["passed"] and 0 < report["quality"]["ppl_ratio"] <= 1.2
        serve = json.loads((job_dir / "serve.json").read_text())
        assert serve["port"] == port and serve["url"].startswith("http://127.0.0.1")
        assert result.stdout.count("fine-tuned:") == 2 and result.stdout.count("base model:") == 2
        assert "held-out identity questions (not in the training rows), asked through the API:" in result.stdout
        assert "English: names itself in " in result.stdout and "Chinese: names itself in " in result.stdout
        eval_report = json.loads((job_dir / "eval" / "report.json").read_text())
        assert f"evaluation ({job_dir / 'eval' / 'report.md'})" in result.stdout
        assert (job_dir / "eval" / "report.md").read_text().strip() in result.stdout
        assert {b["name"] for b in eval_report["benchmarks"]} == {"identity", "mcq-en", "mcq-zh"}
        assert set(eval_report["models"]) == {"base", "fine-tuned", "export"}
        card = (job_dir / "export" / "README.md").read_text()
        assert "## Evaluation (base / fine-tuned / this export)" in card and "| identity" in card
        assert f"stop it: ./yichuidingyin.sh stop {job_dir}" in result.stdout
        key = (job_dir / "api_key").read_text().strip()
        assert (job_dir / "api_key").stat().st_mode & 0o077 == 0, "the generated key is readable by others"
        for name in ("job.yaml", "events.jsonl", "serve.json", "serve.log", "state.json"):
            assert key not in (job_dir / name).read_text(), f"the API key leaked into {name}"
    finally:
        cli("stop", str(job_dir), cwd=tmp_path)
