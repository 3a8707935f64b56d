"""Step 1: what the job does — the five tasks and the multimodal fine-tune, each with a one-line explanation."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from .. import i18n, steps
from .base import StepScreen


class TaskList(OptionList):
    help_path = "task"


class TaskScreen(StepScreen):
    def special(self) -> tuple[str, ...]:
        return ("task",)

    def body(self) -> ComposeResult:
        tasks = steps.task_choices()
        options = [
            Option(Text.assemble((i18n.choice("task", t), "bold"), "\n  ", (i18n.explain("task", t), "dim")), id=t)
            for t in tasks
        ]
        listing = TaskList(*options, id="tasks")
        listing.highlighted = tasks.index(self.draft.task_choice)
        yield listing

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self.draft.choose_task(event.option.id)

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.draft.choose_task(event.option.id)
            await self.action_next()
