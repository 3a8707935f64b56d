"""Fixtures for every test level. The tiny model is built once per session, offline, in seconds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.jobs import toy_sft_rows, write_jsonl

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `gpu` need CUDA: skipped where torch sees none (torch is imported only if one was collected)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU with CUDA (torch.cuda.is_available() is False here)")
    for item in gpu_items:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_model_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from engine.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def tiny_model(tiny_model_session: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model, so a test may damage it freely."""
    dest = tmp_path / "tiny-model"
    shutil.copytree(tiny_model_session, dest)
    return dest


@pytest.fixture
def toy_data(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "data" / "toy.jsonl", toy_sft_rows())


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m engine ARGS` in a fresh process, the way the shell script runs it."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli
