"""`serve DIR` refuses what is unsafe or impossible with one line and exit 2, before loading a model."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers.serving import free_port


def no_key_env() -> dict[str, str]:
    return {"YCDY_API_KEY": ""}


def test_a_public_host_without_a_key_is_refused(cli, tiny_model: Path, tmp_path: Path):
    result = cli("serve", str(tiny_model), "--host", "0.0.0.0", "--port", str(free_port()), cwd=tmp_path,
                 env=no_key_env())
    assert result.returncode == 2, result.stderr
    assert "--host: 0.0.0.0" in result.stderr and "YCDY_API_KEY" in result.stderr and "--insecure" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_in_use_is_named(cli, tiny_model: Path, tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", str(tiny_model), "--port", str(port), cwd=tmp_path, env=no_key_env())
    assert result.returncode == 2, result.stderr
    assert f"--port: port {port} on 127.0.0.1 is already in use" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "example.com"], "--host: must be an IP address"),
        (["--port", "70000"], "--port:"),
        (["--served-model-name", "bad name"], "--served-model-name:"),
        (["--api-key-env", "MY KEY"], "--api-key-env:"),
        (["--max-queue", "0"], "--max-queue:"),
    ],
)
def test_bad_flags_are_one_line_each(cli, tiny_model: Path, tmp_path: Path, args: list[str], message: str):
    result = cli("serve", str(tiny_model), *args, cwd=tmp_path, env=no_key_env())
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_backend_vllm_where_vllm_does_not_import_is_one_line(tiny_model: Path, tmp_path: Path):
    # The CLI in a fresh process with vllm marked unimportable, so this holds where vLLM is installed too.
    blocked = "import sys; sys.modules['vllm'] = None; from engine.cli import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run([sys.executable, "-c", blocked, "serve", str(tiny_model), "--backend", "vllm"],
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT), **no_key_env()},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--backend: vllm is not installed" in errors[0] and "Traceback" not in result.stderr


def test_a_folder_that_is_not_a_model_is_refused(cli, tmp_path: Path):
    result = cli("serve", str(tmp_path / "nothing"), cwd=tmp_path, env=no_key_env())
    assert result.returncode == 2 and "no such folder" in result.stderr
    result = cli("serve", str(tmp_path), cwd=tmp_path, env=no_key_env())
    assert result.returncode == 2 and "no config.json" in result.stderr


def test_stop_without_a_deployed_server_says_so(cli, tmp_path: Path):
    result = cli("stop", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and "no serve.json" in result.stderr
