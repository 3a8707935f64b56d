"""pytest fixtures around the fake hub: one server per session, fresh caches and faults per test.

Downloads run through `python -m engine run` in a subprocess: huggingface_hub reads HF_ENDPOINT and
HF_HUB_OFFLINE when it is imported, and a fresh process is also what an operator runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.helpers.jobs import write_job

from .repo import FakeRepo, repo_from_folder
from .server import FakeHub, hub_env

TINY_ID = "org/tiny"


@pytest.fixture(scope="session")
def fake_hub_server() -> Iterator[FakeHub]:
    hub = FakeHub().start()
    yield hub
    hub.stop()


@dataclass
class HubCase:
    """One test's view of the hub: its repos, the env that points the clients at it, and helpers."""

    hub: FakeHub
    root: Path
    env: dict[str, str]

    def serve(self, repo: FakeRepo) -> FakeRepo:
        return self.hub.add(repo)

    def job(self, name: str, hub: str, model_id: str, **model: object) -> Path:
        data = {"name": name, "task": "sft", "stages": ["download"], "model": {"id": model_id, "hub": hub, **model},
                "dataset": {"sft": "unused.jsonl"}}
        return write_job(self.root / f"{name}.yaml", data)

    def run(self, job: Path, *args: str, env: dict[str, str] | None = None):
        return run_cli("run", str(job), "--jobs-dir", str(self.root / "jobs"), *args, cwd=self.root,
                       env={**self.env, **(env or {})}, timeout=180)

    def manifest(self, name: str) -> dict:
        return json.loads((self.root / "jobs" / name / "model.json").read_text())

    def events(self, name: str) -> list[dict]:
        path = self.root / "jobs" / name / "events.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def body_requests(self, path: str) -> list[dict]:
        """GETs of one file's body (HEADs and listings left out)."""
        return self.hub.requests("GET", file=path)


@pytest.fixture
def hub_case(fake_hub_server: FakeHub, tmp_path: Path, tiny_model_session: Path) -> Iterator[HubCase]:
    fake_hub_server.repos.clear()
    fake_hub_server.faults.clear()
    fake_hub_server.reset_log()
    fake_hub_server.add(repo_from_folder(TINY_ID, tiny_model_session))
    env = hub_env(fake_hub_server, tmp_path)
    yield HubCase(fake_hub_server, tmp_path, env)
    fake_hub_server.faults.clear()
