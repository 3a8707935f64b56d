"""The deploy stage end to end: `run` leaves a server up, `status` sees it, `stop` ends it; the key
never lands in a file or on a command line; a dead server is started again by the next run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import openai
import pytest

from engine.serve.process import alive
from tests.helpers.jobs import write_job
from tests.helpers.serving import QUIET_ENV, free_port

SECRET = "sk-ycdy-e2e-9c41f0a7d3"


@pytest.fixture
def jobs(tmp_path: Path):
    """The jobs folder; any server a test leaves behind is killed at the end, pass or fail."""
    root = tmp_path / "jobs"
    yield root
    for serve_json in root.glob("*/serve.json"):
        with contextlib.suppress(ValueError, OSError, KeyError):
            os.killpg(json.loads(serve_json.read_text())["pid"], signal.SIGKILL)


def deploy_job(tmp_path: Path, model: Path, name: str = "served", **deploy) -> Path:
    return write_job(tmp_path / f"{name}.yaml", {
        "name": name, "task": "deploy", "stages": ["download", "deploy"],
        "model": {"id": str(model), "hub": "local"},
        "deploy": {"port": free_port(), "start_timeout": 120, **deploy},
    })


def record(job_dir: Path) -> dict:
    return json.loads((job_dir / "serve.json").read_text())


def wait_dead(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)


@pytest.mark.slow
def test_run_status_stop_and_a_restart_after_a_crash(cli, tmp_path: Path, tiny_model: Path, jobs: Path):
    env = {**QUIET_ENV, "YCDY_API_KEY": SECRET}
    job = deploy_job(tmp_path, tiny_model)
    job_dir = jobs / "served"
    run = cli("run", str(job), "--jobs-dir", str(jobs), cwd=tmp_path, env=env, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "curl http://127.0.0.1:" in run.stdout and "Bearer $YCDY_API_KEY" in run.stdout
    assert 'os.environ["YCDY_API_KEY"]' in run.stdout

    first = record(job_dir)
    assert first["status"] == "running" and first["model"] == "served" and first["auth"] is True
    client = openai.OpenAI(base_url=first["base_url"], api_key=SECRET, max_retries=0, timeout=60)
    reply = client.chat.completions.create(model="served", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    assert reply.choices[0].message.content is not None
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=first["base_url"], api_key="wrong", max_retries=0).models.list()

    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "engine serve" in ps and SECRET not in ps
    status = cli("status", str(job_dir), cwd=tmp_path)
    assert f"server   up at {first['base_url']}" in status.stdout

    again = cli("run", str(job), "--jobs-dir", str(jobs), cwd=tmp_path, env=env)
    assert again.returncode == 0 and "deploy: done earlier" in again.stdout
    assert record(job_dir)["pid"] == first["pid"]

    os.kill(first["pid"], signal.SIGKILL)  # a crash, a reboot, an OOM kill: the next run serves again
    wait_dead(first["pid"])
    assert "server   down" in cli("status", str(job_dir), cwd=tmp_path).stdout
    restarted = cli("run", str(job), "--jobs-dir", str(jobs), cwd=tmp_path, env=env, timeout=240)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    second = record(job_dir)
    assert second["pid"] != first["pid"] and alive(second["pid"])

    stopped = cli("stop", str(job_dir), cwd=tmp_path)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    wait_dead(second["pid"])
    assert record(job_dir)["status"] == "stopped"
    assert "server   stopped" in cli("status", str(job_dir), cwd=tmp_path).stdout

    for path in job_dir.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path


def test_a_taken_port_is_a_user_error_naming_deploy_port(cli, tmp_path: Path, tiny_model: Path, jobs: Path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        job = deploy_job(tmp_path, tiny_model, port=port)
        result = cli("run", str(job), "--jobs-dir", str(jobs), cwd=tmp_path, env=QUIET_ENV)
    assert result.returncode == 2
    assert f"deploy.port: port {port} on 127.0.0.1 is already in use" in result.stderr
    assert not (jobs / "served" / "serve.json").exists()


def test_a_public_host_without_a_key_is_refused_before_starting(cli, tmp_path: Path, tiny_model: Path, jobs: Path):
    job = deploy_job(tmp_path, tiny_model, host="0.0.0.0")
    result = cli("run", str(job), "--jobs-dir", str(jobs), cwd=tmp_path, env={**QUIET_ENV, "YCDY_API_KEY": ""})
    assert result.returncode == 2
    assert "deploy.host: 0.0.0.0" in result.stderr and "set deploy.insecure: true" in result.stderr
    assert not (jobs / "served" / "serve.json").exists()


@pytest.mark.slow
def test_a_server_that_dies_while_loading_fails_the_stage_with_its_log(cli, tmp_path: Path, tiny_model: Path,
                                                                       jobs: Path):
    (tiny_model / "model.safetensors").write_bytes(b"not a safetensors file")
    job = deploy_job(tmp_path, tiny_model)
    result = cli("run", str(job), "--jobs-dir", str(jobs), cwd=tmp_path, env=QUIET_ENV, timeout=240)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the server exited" in result.stderr and "serve.log ends with:" in result.stderr
    assert record(jobs / "served")["status"] == "failed"
    assert "transformers cannot load this model" in result.stderr and "Traceback" not in result.stderr
