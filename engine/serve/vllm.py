"""The vLLM backend: build the `vllm serve` command line, start it, wait for /health, hand over.

vLLM is the GPU/scale backend (continuous batching, paged KV cache, compressed-tensors AWQ kernels);
it is not installable on a CPU-only machine, so `backend: auto` takes it only when it imports.
The key goes to vLLM in the environment variable VLLM_API_KEY, never on its command line, where
`ps` would show it. vLLM checks the key only under /v1; other routes (e.g. /tokenize) stay open,
which is one more reason the host defaults to 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from ..errors import UserError
from .multimodal import is_vision_folder
from .settings import ServeSettings, api_key, port_problem


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def resolve_backend(requested: str, field: str = "--backend") -> str:
    """auto → vllm when it imports, else builtin; an explicit vllm without vLLM is the operator's to fix."""
    if requested == "auto":
        return "vllm" if vllm_available() else "builtin"
    if requested == "vllm" and not vllm_available():
        raise UserError(
            f"{field}: vllm is not installed in this environment; on a GPU machine run "
            "`.venv/bin/python -m pip install vllm`, or use builtin (runs on CPU or one GPU)"
        )
    return requested


def vllm_executable() -> list[str]:
    exe = shutil.which("vllm")
    return [exe] if exe else [sys.executable, "-m", "vllm.entrypoints.cli.main"]


def vllm_command(settings: ServeSettings, executable: list[str] | None = None) -> list[str]:
    """The argv for `vllm serve` with the same folder, host, port and served name as the builtin server."""
    argv = [
        *(executable or vllm_executable()),
        "serve", str(settings.model_dir),
        "--host", settings.host,
        "--port", str(settings.port),
        "--served-model-name", settings.served_name,
        "--generation-config", "auto",  # eos and sampling defaults from generation_config.json
        "--disable-fastapi-docs",
    ]
    if settings.trust_remote_code:
        argv.append("--trust-remote-code")
    if is_vision_folder(settings.model_dir):  # the same image allowance as the builtin server; the folder as it is
        argv += ["--limit-mm-per-prompt", json.dumps({"image": settings.max_images})]
    return argv


def vllm_env(settings: ServeSettings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with the key (if any) as VLLM_API_KEY and nothing stale in its place."""
    env = dict(os.environ if environ is None else environ)
    env.pop("VLLM_API_KEY", None)
    key = env.get(settings.api_key_env) or None
    if key:
        env["VLLM_API_KEY"] = key
    return env


def serve_vllm(settings: ServeSettings, timeout: float = 900, port_field: str = "--port") -> int:
    """Run vLLM in the foreground of this process: Ctrl-C / SIGTERM stop it; returns its exit status."""
    from .examples import ready_text
    from .process import wait_healthy

    problem = port_problem(settings.host, settings.port, port_field)
    if problem:
        raise UserError(problem)
    argv = vllm_command(settings)
    print("starting " + " ".join(argv), flush=True)
    proc = subprocess.Popen(argv, env=vllm_env(settings))

    def forward(sig: int, _frame: Any) -> None:
        proc.send_signal(sig)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    try:
        wait_healthy(settings.url, proc, timeout, log_path=None)
    except BaseException:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
        raise
    print(ready_text(settings, auth=api_key(settings) is not None), flush=True)
    return proc.wait()
