"""Run `python -m engine run` as an operator would, watch its events.jsonl, and SIGKILL it at a chosen moment.

The run leads its own process group, so the kill takes it and every child it started in that group
(what a crash, an OOM kill or a pulled plug does). A server started by deploy leads its own session
and survives, as it would in real life; tests stop it themselves.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import ROOT


def events_of(job_dir: Path) -> list[dict[str, Any]]:
    """Every complete event line; a line torn by a kill is skipped, as the engine's own reader does."""
    path = job_dir / "events.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            out.append(json.loads(line))
    return out


def stage_starts(events: list[dict[str, Any]]) -> Counter:
    return Counter(e["stage"] for e in events if e["kind"] == "stage_start")


def said(events: list[dict[str, Any]]) -> str:
    return "\n".join(str(e.get("message", "")) for e in events if e["kind"] in ("log", "error"))


@dataclass
class Run:
    """One `engine run` process and the slice of events.jsonl it wrote."""

    proc: subprocess.Popen
    job_dir: Path
    log: Path
    offset: int  # events already in the file when it started
    killed: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)

    def new_events(self) -> list[dict[str, Any]]:
        return events_of(self.job_dir)[self.offset :]

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def start_run(job_file: Path, jobs_root: Path, env: dict[str, str], log: Path) -> Run:
    job_dir = jobs_root / job_name(job_file)
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "run", str(job_file), "--jobs-dir", str(jobs_root)],
            cwd=job_file.parent, env=full_env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Run(proc, job_dir, log, len(events_of(job_dir)))


def job_name(job_file: Path) -> str:
    import yaml

    return yaml.safe_load(job_file.read_text())["name"]


def _kill_at(run: Run, reached: Callable[[], bool], poll: float, timeout: float) -> list[dict[str, Any]]:
    """SIGKILL the run's process group as soon as reached() holds; return the events it left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reached():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.proc.pid, signal.SIGKILL)
            run.proc.wait(30)
            run.killed = True
            run.events = run.new_events()
            return run.events
        if run.proc.poll() is not None:
            raise AssertionError(f"the run ended (status {run.proc.returncode}) before the kill point:\n{run.output()}")
        time.sleep(poll)
    stop(run)
    raise AssertionError(f"the kill point was not reached in {timeout:.0f}s:\n{run.output()}")


def kill_when(run: Run, ready: Callable[[list[dict[str, Any]]], bool], timeout: float = 180.0) -> list[dict[str, Any]]:
    """SIGKILL the run as soon as ready(new events) holds; return the events it left."""
    return _kill_at(run, lambda: ready(run.new_events()), 0.01, timeout)


def kill_when_exists(run: Run, paths: Callable[[], list[Path]], timeout: float = 180.0) -> list[dict[str, Any]]:
    """SIGKILL the run the moment one of `paths()` exists: a stat every millisecond, for kill points that
    last only as long as a rename (reading events.jsonl each time would be too slow to land inside them)."""
    return _kill_at(run, lambda: any(p.exists() for p in paths()), 0.001, timeout)


def finish(run: Run, timeout: float = 300.0) -> list[dict[str, Any]]:
    try:
        code = run.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        stop(run)
        raise AssertionError(f"the run did not finish in {timeout:.0f}s:\n{run.output()}") from None
    run.events = run.new_events()
    assert code == 0, f"the run failed with status {code}:\n{run.output()}"
    return run.events


def stop(run: Run) -> None:
    if run.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.proc.pid, signal.SIGKILL)
        run.proc.wait(30)


def progress_of(stage: str, events: list[dict[str, Any]], unit: str | None = None) -> list[dict[str, Any]]:
    return [e for e in events if e["stage"] == stage and e["kind"] == "progress" and (unit is None or e.get("unit") == unit)]


def kill_group(pid: int) -> None:
    """SIGKILL a server (it leads its own session) if it is still there."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
