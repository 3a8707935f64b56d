"""EvalScope (optional extra): its benchmarks by name, run against the model through the OpenAI-compatible API.

As `swift eval` does: serve the model, point EvalScope's openai_api evaluation at /v1/chat/completions,
read its reports. Its datasets come from the ModelScope hub, so offline it stops with one line on how
to pre-fetch them. The command and config are built by plain functions (tested where the package
cannot be installed); `run` does the serving and calling.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from ..errors import UserError

EXTRA = "evalscope"
PIP = "pip install 'yichuidingyin[evalscope]'  (or: pip install evalscope)"
OFFLINE_VARS = ("HF_HUB_OFFLINE", "MODELSCOPE_OFFLINE", "YCDY_OFFLINE")


def available() -> bool:
    return importlib.util.find_spec("evalscope") is not None


def missing_message() -> str:
    return f"eval.evalscope: EvalScope is not installed; install the {EXTRA} extra: {PIP}"


def offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes") for v in OFFLINE_VARS)


def offline_message(datasets: list[str]) -> str:
    fetch = " && ".join(f"modelscope download --dataset <the {d} dataset id> --local_dir ~/evalscope-data/{d}"
                        for d in datasets)
    return (f"eval.evalscope: EvalScope reads {', '.join(datasets)} from the ModelScope hub and this run is offline; "
            f"pre-fetch on a connected machine ({fetch}) and copy ~/.cache/modelscope here, or unset "
            f"{'/'.join(v for v in OFFLINE_VARS if os.environ.get(v))}")


def task_config(model: str, base_url: str, api_key: str, datasets: list[str], limit: int | None,
                work_dir: Path, max_tokens: int, batch_size: int) -> dict[str, Any]:
    """EvalScope's TaskConfig as a dict: greedy decoding against our server's chat endpoint."""
    config: dict[str, Any] = {
        "model": model,
        "api_url": base_url.rstrip("/") + "/v1",
        "api_key": api_key or "EMPTY",
        "eval_type": "openai_api",
        "datasets": list(datasets),
        "eval_batch_size": batch_size,
        "generation_config": {"temperature": 0.0, "max_tokens": max_tokens},
        "work_dir": str(work_dir),
    }
    if limit:
        config["limit"] = limit
    return config


def command(config: dict[str, Any]) -> list[str]:
    """The `evalscope eval` command line for a task config (what `run` executes)."""
    argv = ["evalscope", "eval", "--model", config["model"], "--api-url", config["api_url"],
            "--api-key", config["api_key"], "--eval-type", config["eval_type"],
            "--datasets", *config["datasets"], "--eval-batch-size", str(config["eval_batch_size"]),
            "--generation-config", json.dumps(config["generation_config"]), "--work-dir", config["work_dir"]]
    if config.get("limit"):
        argv += ["--limit", str(config["limit"])]
    return argv


def serve_command(model_dir: Path, port: int, name: str) -> list[str]:
    """This project's own server on loopback, no key (nothing else can reach it)."""
    return [sys.executable, "-m", "engine", "serve", str(model_dir), "--port", str(port),
            "--served-model-name", name, "--api-key-env", "YCDY_EVAL_NO_KEY"]


def read_scores(work_dir: Path) -> dict[str, float]:
    """dataset → score from EvalScope's report files (reports/<model>/<dataset>.json)."""
    out: dict[str, float] = {}
    for path in sorted(work_dir.rglob("reports/**/*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        name, score = data.get("dataset_name") or path.stem, data.get("score")
        if isinstance(score, int | float):
            out[str(name)] = float(score)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise UserError(f"eval.evalscope: the model server exited ({proc.returncode}) before answering")
        try:
            with urllib.request.urlopen(url + "/v1/models", timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise UserError(f"eval.evalscope: the model server did not answer at {url} within {timeout:.0f}s")


def run(model_dir: Path, datasets: list[str], limit: int | None, work_dir: Path, max_tokens: int,
        batch_size: int, timeout: float = 6 * 3600) -> dict[str, float]:
    """Serve `model_dir` on loopback, run EvalScope on `datasets`, return its scores (0..1)."""
    if not available():
        raise UserError(missing_message())
    if offline():
        raise UserError(offline_message(datasets))
    port, name = _free_port(), model_dir.name
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(serve_command(model_dir, port, name), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env={k: v for k, v in os.environ.items() if k != "YCDY_EVAL_NO_KEY"})
    try:
        _wait(url, server, 900)
        shutil.rmtree(work_dir, ignore_errors=True)
        config = task_config(name, url, "", datasets, limit, work_dir, max_tokens, batch_size)
        proc = subprocess.run(command(config), capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            raise UserError(f"eval.evalscope: evalscope failed: {tail[0]}")
        return read_scores(work_dir)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
