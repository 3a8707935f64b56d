"""The Textual wizard: runs the steps of wizard.steps in order, one screen each, then the Run screen.

Thin on purpose: each screen owns its widgets and returns its result with dismiss(); this App
only awaits them one after another (push_screen_wait in a worker), follows Back/Next, and
handles the keys that work everywhere (help, language, quit).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import App
from textual.binding import Binding

from . import i18n, jobs, steps
from .draft import Draft
from .screens import screen_class
from .screens.base import StepScreen, bind_keys

APP_KEYS = [("f1,question_mark", "help", "key.help", True), ("f2", "language", "key.language", True),
            ("ctrl+q", "quit", "key.quit", True)]


@dataclass
class Outcome:
    state: str  # saved | finished | failed | stopped | detached | quit
    job: Path | None = None
    message: str = ""


class WizardApp(App[Outcome]):
    CSS_PATH = "wizard.tcss"
    TITLE = "yichuidingyin"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding(k, a, show=s) for k, a, _, s in APP_KEYS]

    def __init__(self, draft: Draft | None = None, attach: Path | None = None) -> None:
        super().__init__()
        self.draft = draft or Draft()
        self.attach = attach  # a running job's job.yaml: go straight to its Run screen

    def on_mount(self) -> None:
        bind_keys(self, APP_KEYS)
        self.flow()
        self.set_timer(0.5, self.preload)

    @work(thread=True, group="preload")
    def preload(self) -> None:
        """While the operator reads the first screen, import what the later steps need."""
        import importlib

        for name in ("wizard.screens.model", "wizard.screens.data", "wizard.screens.train", "wizard.screens.review",
                     "engine.registry", "engine.data", "engine.render", "engine.estimate"):
            try:
                importlib.import_module(name)
            except ImportError:
                pass

    @work(exclusive=True, group="flow")
    async def flow(self) -> None:
        if self.attach is not None:
            await self.watch_run(self.attach, self.draft.stage_names(), None)
            return
        step_id: str | None = "task"
        while step_id is not None:
            active = [s.id for s in steps.active(self.draft)]
            step = steps.by_id(step_id)
            screen = screen_class(step_id)(self.draft, step, (active.index(step_id) + 1, len(active)))
            result = await self.push_screen_wait(screen)
            if result == "back":
                step_id = steps.neighbour(self.draft, step_id, -1) or step_id
            elif result == "next":
                step_id = steps.neighbour(self.draft, step_id, +1)
            elif isinstance(result, tuple):
                action, path = result
                if action == "run":
                    await self.watch_run(path, self.draft.stage_names(), jobs.start_run(path))
                else:
                    self.exit(Outcome("saved", path, i18n.t("review.saved", path=path)))
                return

    async def watch_run(self, job: Path, stages: list[str], proc: object) -> None:
        from .screens.run import RunScreen

        outcome = await self.push_screen_wait(RunScreen(job, stages, proc))  # type: ignore[arg-type]
        self.exit(Outcome(outcome.state, outcome.job, outcome.message))

    async def action_quit(self) -> None:
        """Ctrl+Q: nothing is written before Save; on the Run screen the job keeps running (and says so)."""
        if self.screen.id == "run":
            self.screen.action_leave()  # type: ignore[attr-defined]
            return
        self.exit(Outcome("quit"))

    def action_help(self) -> None:
        from .screens.dialogs import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        screen = self.screen
        step = screen.step.id if isinstance(screen, StepScreen) else ("run" if screen.id == "run" else None)
        field = screen.focused_path() if isinstance(screen, StepScreen) else None
        self.push_screen(HelpScreen(step, field))

    async def action_language(self) -> None:
        i18n.toggle()
        bind_keys(self, APP_KEYS)
        screen = self.screen
        await screen.recompose()
        if isinstance(screen, StepScreen) or screen.id == "run":
            screen.on_mount()  # type: ignore[call-arg]
