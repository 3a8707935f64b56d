"""The Run step against the real engine: `engine run` started detached on the tiny model, watched
through events.jsonl — to the end, and also left running, reattached to, and stopped with Ctrl+C.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from engine.render import render_job
from engine.spec import JobSpec
from tests.functional.test_wizard import next_to, run, steady, until  # noqa: F401  (steady is autouse)
from tests.helpers.jobs import tiny_job, toy_sft_rows, write_jsonl
from wizard import jobs
from wizard.__main__ import load
from wizard.app import WizardApp
from wizard.screens.run import RunScreen

pytestmark = pytest.mark.slow  # both tests train the tiny model through a detached `engine run`


def job_file(tmp_path: Path, model: Path, steps: int) -> Path:
    data = write_jsonl(tmp_path / "data" / "toy.jsonl", toy_sft_rows(32))
    spec = JobSpec.model_validate(tiny_job(model, data, name="wizard-run", train={"max_steps": steps, "save_steps": 1000}))
    path = tmp_path / "draft.yaml"
    path.write_text(render_job(spec), encoding="utf-8")
    return path


@pytest.fixture
def no_runner_left(tmp_path: Path):
    yield
    pid = jobs.runner_pid(tmp_path / "jobs" / "wizard-run")
    if pid:
        jobs.stop_run(pid, hard=True)


def run_screen(app: WizardApp) -> RunScreen:
    assert isinstance(app.screen, RunScreen), app.screen
    return app.screen


def test_save_and_run_shows_stages_progress_loss_and_where_the_outputs_are(tmp_path: Path, tiny_model: Path,
                                                                            no_runner_left: None):
    draft, _ = load(job_file(tmp_path, tiny_model, steps=6))
    seen: dict[str, Any] = {}

    async def scenario(pilot: Any, app: WizardApp) -> None:
        await next_to(pilot, "review")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: app.screen.id == "run")
        await until(pilot, lambda: run_screen(app).ended is not None, timeout=240)
        screen = run_screen(app)
        seen["ended"] = screen.ended
        seen["status"] = dict(screen.view.status)
        seen["losses"] = list(screen.view.losses.get("sft", []))
        seen["chart"] = list(screen.query_one("#chart").values)
        seen["stages line"] = str(screen.query_one("#run-stages").render())
        seen["end"] = str(screen.query_one("#run-end").render())
        await pilot.press("q")

    outcome = run(WizardApp(draft), scenario)  # type: ignore[arg-type]
    job_dir = tmp_path / "jobs" / "wizard-run"
    assert seen["ended"] == "finished", (job_dir / "run.log").read_text()
    assert seen["status"] == {"download": "done", "sft": "done", "merge": "done"}
    assert len(seen["losses"]) == 6 and seen["chart"] == seen["losses"]
    assert seen["stages line"] == "✓ download  ✓ sft  ✓ merge"
    assert f"finished: outputs in {job_dir}" in seen["end"]
    assert outcome is not None and outcome.state == "finished"
    state = json.loads((job_dir / "state.json").read_text())
    assert {name: s["status"] for name, s in state["stages"].items()} == seen["status"]


def test_a_job_left_running_is_reattached_by_job_and_ctrl_c_stops_it_after_asking(tmp_path: Path, tiny_model: Path,
                                                                                   no_runner_left: None):
    draft, _ = load(job_file(tmp_path, tiny_model, steps=100_000))
    job = tmp_path / "jobs" / "wizard-run" / "job.yaml"

    async def start_and_leave(pilot: Any, app: WizardApp) -> None:
        await next_to(pilot, "review")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: app.screen.id == "run")
        await until(pilot, lambda: run_screen(app).view.status.get("sft") == "running", timeout=120)
        await pilot.press("q")

    left = run(WizardApp(draft), start_and_leave)  # type: ignore[arg-type]
    assert left is not None and left.state == "detached"
    assert f"--job {job}" in left.message
    time.sleep(1)
    assert jobs.runner_pid(job.parent), "closing the wizard stopped the job"

    again, attach = load(job)
    assert attach == job
    seen: dict[str, Any] = {}

    async def reattach_and_stop(pilot: Any, app: WizardApp) -> None:
        await until(pilot, lambda: app.screen.id == "run")
        await until(pilot, lambda: len(run_screen(app).view.losses.get("sft", [])) >= 2, timeout=120)
        seen["log"] = list(run_screen(app).view.log)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: app.screen.id == "confirm")
        seen["alive while asking"] = jobs.runner_pid(job.parent) is not None
        await pilot.press("y")
        await until(pilot, lambda: app.screen.id == "run" and run_screen(app).ended is not None, timeout=60)
        seen["ended"] = run_screen(app).ended
        await pilot.press("q")

    stopped = run(WizardApp(again, attach), reattach_and_stop)  # type: ignore[arg-type]
    assert "── sft ──" in seen["log"]  # the reattached screen read the events from the start
    assert seen["alive while asking"]
    assert seen["ended"] == "stopped" and stopped is not None and stopped.state == "stopped"
    assert jobs.runner_pid(job.parent) is None
    state = json.loads((job.parent / "state.json").read_text())
    assert state["stages"]["sft"]["status"] == "failed" and state["stages"]["sft"]["error"] == "interrupted"
