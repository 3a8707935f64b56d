"""The Run screen: watches a job's runner through jobs/<name>/events.jsonl — stage status, a progress
bar with ETA, the live loss chart and the log tail — and, at the end, where the outputs are and
(when it deployed) the URL and a curl line from serve.json.

The runner is a separate process (started detached by the wizard, or found running and
reattached to), so leaving this screen leaves the job running; Ctrl+C asks before stopping it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Log, ProgressBar, Static

from engine.files import LOSS_PLOT, JobFiles
from engine.spec.stages import TRAINING

from .. import i18n, jobs, sources
from ..runwatch import RunView, fmt_duration
from ..widgets.loss_chart import LossChart
from .base import bind_keys
from .dialogs import ConfirmScreen


@dataclass
class RunOutcome:
    state: str  # finished | failed | stopped | detached
    job: Path
    message: str


class RunScreen(Screen[RunOutcome]):
    KEYS = [("ctrl+c", "stop", "key.stop", True), ("q,escape", "leave", "key.leave", True)]
    BINDINGS = [Binding("ctrl+c", "stop", priority=True), Binding("q,escape", "leave")]

    def __init__(self, job: Path, stages: list[str], proc: subprocess.Popen[bytes] | None = None) -> None:
        super().__init__(id="run")
        self.job = job
        self.job_dir = job.parent
        self.name_ = job.parent.name
        self.proc = proc
        self.view = RunView(list(stages))
        self.ended: str | None = None
        self.stopping = False
        self.shown = 0
        self.end_message = ""
        self._polling = False
        self._vision: bool | None = None  # whether the served model takes images (read from serve.json's folder)
        self.pid = proc.pid if proc is not None else jobs.runner_pid(self.job_dir)

    def compose(self) -> ComposeResult:
        yield Static(f"{i18n.t('app.title')}  ·  [b]{i18n.t('step.run')}[/b]  ·  {self.job_dir}", id="title")
        yield Static("", id="run-stages", markup=False)
        with Horizontal(id="run-progress"):
            yield ProgressBar(total=None, show_eta=False, show_percentage=True, id="bar")
            yield Static("", id="eta", markup=False)
        yield LossChart(id="chart")
        yield Log(id="log", max_lines=500, auto_scroll=True)
        yield Static("", id="run-end", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        """Also called again after a language switch has recomposed the screen."""
        bind_keys(self, self.KEYS)
        self.query_one("#chart").border_title = i18n.t("run.loss")
        self.query_one("#log").border_title = i18n.t("run.log")
        self.shown = 0  # a fresh Log widget: write the kept tail again
        end = self.query_one("#run-end", Static)
        end.display = bool(self.end_message)
        end.update(self.end_message)
        self.poll()
        if not self._polling:
            self._polling = True
            self.set_interval(0.5, self.poll)

    # ---- following the events ------------------------------------------------------------
    def poll(self) -> None:
        try:
            self._poll()
        except NoMatches:
            pass  # the screen is being closed

    def _poll(self) -> None:
        self.view.read(JobFiles(self.job_dir).events)
        self.show_log()
        self.draw()
        if self.ended is None:
            state = self.runner_state()
            if state is not None:
                self.end(state)
        if "deploy" in self.view.stages:
            self.show_serving()

    def show_log(self) -> None:
        new = self.view.new_lines(self.shown)
        if new:
            self.query_one("#log", Log).write_lines(new)
        self.shown = self.view.logged

    def runner_state(self) -> str | None:
        """None while the runner is alive; else how it ended (from its exit code or the events)."""
        if self.proc is not None:
            code = self.proc.poll()
            if code is None:
                return None
            self.view.read(JobFiles(self.job_dir).events)
            if code == 0:
                return "finished"
            return "stopped" if self.stopping or code == 130 else "failed"
        if jobs.runner_pid(self.job_dir) is not None:
            return None
        self.view.read(JobFiles(self.job_dir).events)
        if self.view.finished():
            return "finished"
        return "stopped" if self.stopping else ("failed" if self.view.failed() else "stopped")

    def draw(self) -> None:
        marks = []
        for name in self.view.stages:
            status = self.view.status.get(name, "pending")
            marks.append(f"{i18n.t('status.' + status)} {name}")
        self.query_one("#run-stages", Static).update("  ".join(marks))
        stage = self.view.current
        bar = self.query_one("#bar", ProgressBar)
        eta = self.query_one("#eta", Static)
        p = self.view.progress.get(stage) if stage else None
        if self.ended == "finished":  # a last stage without progress events (deploy) must not look unfinished
            bar.update(total=1, progress=1)
            eta.update("")
        elif p is not None and p.total:
            bar.update(total=p.total, progress=p.step)
            eta.update(f" {stage} {p.step:g}/{p.total:g} {p.unit}  {i18n.t('run.eta', eta=fmt_duration(p.eta()))}")
        elif stage:
            bar.update(total=None)
            eta.update(f" {stage}")
        else:
            eta.update(" " + i18n.t("run.starting"))
        loss_stage = self.view.loss_stage()
        chart = self.query_one("#chart", LossChart)
        if loss_stage:
            chart.values = list(self.view.losses[loss_stage])
            chart.border_title = f"{i18n.t('run.loss')} ({loss_stage})"

    def end(self, state: str) -> None:
        self.ended = state
        self.draw()
        job = str(self.job)
        message = {
            "finished": i18n.t("run.finished", path=self.job_dir),
            "failed": i18n.t("run.failed", job=job),
            "stopped": i18n.t("run.stopped", job=job),
        }[state]
        if state == "failed":
            message = "\n".join([*(self.view.errors[-3:] or jobs.log_tail(self.job_dir)), message])
        self.show_log()
        # What to do next first (the server and how to call it): the box is 7 lines high on an 80×24 terminal,
        # and the loss picture and the eval table are files the lines name.
        self.end_message = message + self.serving_text() + self.loss_text() + self.eval_text()
        box = self.query_one("#run-end", Static)
        box.update(self.end_message)
        box.display = True
        box.set_class(state != "finished", "-problems")

    def loss_text(self) -> str:
        """Where each training stage drew its loss.png (train/eval loss and learning rate)."""
        files = JobFiles(self.job_dir)
        pictures = [files.stage_dir(s) / LOSS_PLOT for s in self.view.stages if s in TRAINING]
        return "".join(f"\n{i18n.t('run.loss_picture', path=p)}" for p in pictures if p.is_file())

    def eval_text(self) -> str:
        """The eval table (base / fine-tuned / export), read from eval/report.md once the job scored its models."""
        table = jobs.eval_table(self.job_dir)
        return f"\n{i18n.t('run.eval')}\n" + "\n".join(table) if table else ""

    def serving_text(self) -> str:
        info = jobs.read_serve(self.job_dir)
        if not info or info.get("status", "running") != "running":
            return ""
        url = jobs.serve_url(info)
        if self._vision is None:  # asked once: the served folder does not change while this screen watches it
            self._vision = sources.model_modality(str(info.get("model_dir") or ""), "local") == "vision"
        serving = i18n.t("run.serving_images" if self._vision else "run.serving", url=url)
        return f"\n{serving}\n{i18n.t('run.curl')} {jobs.curl_example(info, self.name_)}"

    def show_serving(self) -> None:
        text = self.serving_text()
        if text and self.ended is None:
            box = self.query_one("#run-end", Static)
            box.update(text.strip())
            box.display = True

    # ---- keys ----------------------------------------------------------------------------
    def action_stop(self) -> None:
        if self.ended is not None or self.pid is None:
            self.action_leave()
            return

        def answered(yes: bool | None) -> None:
            if yes and self.pid is not None:
                self.stopping = True
                jobs.stop_run(self.pid)
                self.query_one("#eta", Static).update(" " + i18n.t("run.stopping"))

        self.app.push_screen(ConfirmScreen(i18n.t("run.confirm_stop", name=self.name_)), answered)

    def action_leave(self) -> None:
        if self.ended is None:
            self.dismiss(RunOutcome("detached", self.job, i18n.t("run.detached", job=self.job)))
            return
        self.dismiss(RunOutcome(self.ended, self.job, self.end_message))
