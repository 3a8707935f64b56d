"""Start the builtin server as a real subprocess on a free loopback port, and always stop it again."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# One intra-op thread: on a shared 2-core runner, torch's thread pool fighting other processes makes
# generation 20x slower and the timings in these tests meaningless.
QUIET_ENV = {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, timeout: float = 5.0) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_health(url: str, proc: subprocess.Popen | None = None, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError, ValueError):
            return get_json(f"{url}/health", timeout=1.0)
        time.sleep(0.2)
    raise TimeoutError(f"{url}/health did not answer in {timeout}s")


@dataclass
class Served:
    url: str
    proc: subprocess.Popen
    log: Path

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def health(self) -> dict:
        return get_json(f"{self.url}/health")


def terminate(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@contextlib.contextmanager
def serving(model_dir: Path, log: Path, *args: str, key: str | None = None, env_name: str = "YCDY_API_KEY") -> Iterator[Served]:
    """`python -m engine serve model_dir --port FREE args...` until the block ends (its log kept in `log`)."""
    port = free_port()
    env = {**os.environ, **QUIET_ENV, "PYTHONPATH": str(ROOT)}
    env.pop(env_name, None)
    if key is not None:
        env[env_name] = key
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", str(model_dir), "--port", str(port), "--api-key-env", env_name,
             *args],
            stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_health(url, proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}; log:\n{log.read_text(errors='replace')[-3000:]}") from None
        yield Served(url, proc, log)
    finally:
        terminate(proc)
