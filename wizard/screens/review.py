"""Step 7: the job file exactly as it will be written, the engine's plan for it, and what to do.

The text shown is render_job(spec) of the JobSpec built from the answers, and Save writes that
same text; if the answers do not make a valid JobSpec the screen lists the problems and offers
no Save, so it can never show a job that `validate` would refuse. The plan comes from
`python -m engine plan --json` in a subprocess (the engine's own estimates and notes).
"""

from __future__ import annotations

import os
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import ScrollableContainer, VerticalScroll
from textual.timer import Timer
from textual.widgets import Button, Static
from textual.worker import get_current_worker

from .. import i18n, jobs
from ..jobs import plan_lines
from .base import StepScreen, while_shown


class ReviewScreen(StepScreen):
    KEYS = [
        ("ctrl+s", "save", "button.save", True),
        ("ctrl+r", "save_run", "button.save_run", True),
        ("escape", "back", "key.back", True),
    ]
    _timer: Timer | None = None
    _plan: jobs.Plan | None = None
    text: str | None = None

    def body(self) -> ComposeResult:
        if not self.draft.data["name"]:
            self.draft.set_text("name", self.draft.default_name())
        yield from super().body()
        yield Static("", id="job-status", markup=False)
        with ScrollableContainer(id="yaml-box"):
            yield Static("", id="yaml", markup=False)
        with VerticalScroll(id="plan-box"):
            yield Static(i18n.t("review.planning"), id="plan", markup=False)

    def actions(self) -> ComposeResult:
        yield Button(i18n.t("button.save"), id="save", compact=True)
        yield Button(i18n.t("button.save_run"), id="save-run", variant="primary", compact=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#plan-box").border_title = i18n.t("review.plan")
        self.render_job()

    def render_job(self) -> None:
        """Build the JobSpec, render it, and show it (or the problems that stop it) and the plan."""
        from engine.render import render_job

        problems = self.draft.problems()
        yaml_box = self.query_one("#yaml", Static)
        status = self.query_one("#job-status", Static)
        if problems:
            self.text = None
            self.query_one("#yaml-box").border_title = ""
            yaml_box.update(i18n.t("review.invalid") + "\n" + "\n".join(f"  {p}: {m}" for p, m in problems))
            status.update("")
            status.display = False
            self.query_one("#plan", Static).update("")
        else:
            spec = self.draft.spec()
            self.text = render_job(spec)
            yaml_box.update(self.text)
            self.query_one("#yaml-box").border_title = jobs.shown(jobs.job_file(spec.name))
            note = self.job_status(spec.name)
            status.update(note)
            status.display = bool(note)
            self.schedule_plan()
        invalid = any(r.error for r in self.rows())  # an edit the schema refused is not in the text above
        for button in self.query("#save, #save-run").results(Button):
            button.disabled = self.text is None or invalid or self.job_running()

    def job_status(self, name: str) -> str:
        path = jobs.job_file(name)
        if jobs.runner_pid(path.parent):
            return i18n.t("review.running", path=jobs.shown(path.parent))
        if path.exists() and (self.draft.source is None or path.resolve() != self.draft.source.resolve()):
            return i18n.t("review.replaces", path=jobs.shown(path))
        return ""

    def job_running(self) -> bool:
        return self.text is not None and jobs.runner_pid(jobs.job_file(self.draft.spec().name).parent) is not None

    def edited(self, path: str) -> None:
        self.render_job()

    def schedule_plan(self) -> None:
        if os.environ.get("YCDY_WIZARD_NO_PLAN") == "1":  # tests that do not look at the plan skip its subprocess
            self.query_one("#plan", Static).update("")
            return
        if self._timer is not None:
            self._timer.stop()
        self.query_one("#plan", Static).update(i18n.t("review.planning"))
        self._timer = self.set_timer(0.3, lambda: self.plan(self.text or ""))

    @work(thread=True, exclusive=True, group="plan")
    def plan(self, text: str) -> None:
        if self._plan is not None:
            self._plan.cancel()
        self._plan = jobs.Plan(text)
        result = self._plan.run()
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_plan, text, result)

    @while_shown
    def _show_plan(self, text: str, result: dict[str, Any]) -> None:
        if text == self.text:
            self.query_one("#plan", Static).update("\n".join(plan_lines(result)))

    def on_unmount(self) -> None:
        if self._plan is not None:
            self._plan.cancel()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id in ("save", "save-run"):
            await self.finish("run" if event.button.id == "save-run" else "save")
        else:
            await super().on_button_pressed(event)

    async def action_next(self) -> None:
        await self.finish("save")

    async def action_save(self) -> None:
        await self.finish("save")

    async def action_save_run(self) -> None:
        await self.finish("run")

    async def finish(self, action: str) -> None:
        if await self.blocked() or self.text is None or self.job_running():
            return
        path = jobs.save(self.text, self.draft.spec().name)
        self.dismiss((action, path))
