"""Step 5: the method (lora / qlora / full, each with the estimator's memory figure and verdict),
then the common knobs pre-filled with the JobSpec defaults, and an advanced part for the rest.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.timer import Timer
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from .. import i18n, schema, sources
from .base import StepScreen, while_shown

# Edits that change the memory a method needs, and so the estimate next to it.
ESTIMATE_INPUTS = ("train.", "dpo.", "parallel.")


class MethodList(OptionList):
    help_path = "train.method"


def method_line(method: str, estimate: tuple[float, str] | None) -> str:
    """'lora   adapter on a 16-bit base   needs ~1.9 GB · fits' (or 'estimate unavailable')."""
    if estimate is None:
        figure = i18n.t("est.unavailable")
    else:
        gb, verdict = estimate
        figure = f"{i18n.t('est.needs', gb=f'{gb:.1f}')} · {i18n.t('est.verdict.' + verdict)}"
    return f"{method:<6} {i18n.explain('method', method):<38} {figure}"


class TrainScreen(StepScreen):
    _timer: Timer | None = None
    estimate_result: sources.Estimate | None = None

    def special(self) -> tuple[str, ...]:
        return ("train.method",)

    def body(self) -> ComposeResult:
        methods = schema.meta("train.method").choices
        figures = self.estimate_result.methods if self.estimate_result else {}
        listing = MethodList(*[Option(method_line(m, figures.get(m)), id=m) for m in methods], id="methods")
        listing.highlighted = methods.index(self.draft.get("train.method"))
        yield listing
        yield Static("", id="estimate", markup=False)
        yield from super().body()

    def on_mount(self) -> None:
        super().on_mount()
        self.schedule_estimate()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and event.option.id != self.draft.get("train.method"):
            self.draft.set_text("train.method", event.option.id)
            self.refresh_applicable()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.draft.set_text("train.method", event.option.id)
            self.refresh_applicable()
            self.focus_next()

    def edited(self, path: str) -> None:
        if path.startswith(ESTIMATE_INPUTS):
            self.schedule_estimate()

    def schedule_estimate(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(0.3, lambda: self.estimate(self.draft.mapping()))

    @work(thread=True, exclusive=True, group="estimate")
    def estimate(self, mapping: dict[str, Any]) -> None:
        result = sources.estimate(mapping)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, result)

    @while_shown
    def _show(self, result: sources.Estimate) -> None:
        self.estimate_result = result
        listing = self.query_one("#methods", OptionList)
        for method in schema.meta("train.method").choices:
            listing.replace_option_prompt(method, method_line(method, result.methods.get(method)))
        self.query_one("#estimate", Static).update(result.verdict or result.reason)
