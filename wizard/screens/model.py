"""Step 2: the model — search the catalogue or type a hub ID / local folder, checked as it is typed.

The format is checked at once by ModelSpec (id and hub together); whether the model exists is
checked in a worker thread a moment after typing stops, so the screen never freezes on a hub.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.timer import Timer
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from .. import i18n, sources
from ..widgets.field import FieldRow
from .base import StepScreen, while_shown


class ModelIdRow(FieldRow):
    """model.id: typing may switch the hub (builtin/..., a folder, org/name)."""

    def _edit(self, text: str) -> None:
        error = self.draft.set_model(text)
        if error and "/" not in text.strip() and sources.models(text.strip()):
            error = i18n.t("model.pick")  # a search word, not an ID yet: say what to do rather than what is wrong
        self.show_error(error)
        self.post_message(self.Edited(self, self.error))


class HubRow(FieldRow):
    """model.hub: an explicit choice; the id typed so far is checked again under it (errors show at the id)."""

    def _edit(self, text: str) -> None:
        id_row = self.screen.query_one(ModelIdRow)
        id_row.show_error(self.draft.set_model(id_row.current_text(), hub=text))
        self.post_message(self.Edited(self, None))


class ModelScreen(StepScreen):
    _timer: Timer | None = None

    def body(self) -> ComposeResult:
        yield ModelIdRow(self.draft, "model.id")
        yield HubRow(self.draft, "model.hub")
        yield Static("", id="model-status", markup=False)
        listing = OptionList(id="catalogue")
        listing.help_path = "model.id"  # type: ignore[attr-defined]
        yield listing
        _, advanced = self.step.candidates(self.draft)
        yield from self.advanced_part(advanced)

    def on_mount(self) -> None:
        super().on_mount()
        self.fill_catalogue("")
        self.schedule_check()

    def fill_catalogue(self, query: str) -> None:
        vision = True if self.draft.vision else None  # the multimodal task lists vision-language models only
        self.load_catalogue(query, self.draft.get("model.hub"), self.draft.get("train.method"), vision)

    @work(thread=True, exclusive=True, group="catalogue")
    def load_catalogue(self, query: str, hub: str, method: str, vision: bool | None = None) -> None:
        found = sources.models(query, hub, vision)
        if not found and query:  # typing a new ID: keep showing the catalogue to pick from
            found = sources.models("", hub, vision)
        total = len(sources.models("", hub, vision)) if sources.has_catalogue() else 0
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_catalogue, found, total, method)

    @while_shown
    def _show_catalogue(self, found: list[sources.ModelChoice], total: int, method: str) -> None:
        listing = self.query_one("#catalogue", OptionList)
        listing.clear_options()
        for choice in found[:60]:
            marks = " ".join(i18n.t("model." + m) if m in ("gated", "coming") else m for m in choice.marks)
            memory = choice.memory.get(method)
            need = f"{method} ≥{memory:.1f}G" if memory else ""
            line = f"{choice.title:<40} {choice.params:>6} {need:<12} {marks}".rstrip()
            listing.add_option(Option(line, id=f"{choice.hub}|{choice.id}"))
        key = "model.catalogue_vision" if self.draft.vision else "model.catalogue"
        listing.border_title = i18n.t(key, n=total) if total else i18n.t("model.no_catalogue")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the search field goes to the matches (Enter there picks one)."""
        listing = self.query_one("#catalogue", OptionList)
        if event.input.id == "f-model--id" and listing.option_count:
            event.stop()
            event.prevent_default()  # not the base screen's "Enter moves to the next field"
            listing.focus()
            listing.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id != "catalogue" or not event.option.id:
            return
        hub, model_id = event.option.id.split("|", 1)
        self.draft.set_values({"model.id": model_id, "model.hub": hub})
        self.query_one(HubRow).sync(hub)
        self.query_one(ModelIdRow).sync(model_id)
        self.schedule_check()
        self.query_one("#next").focus()

    def edited(self, path: str) -> None:
        if path == "model.id":
            hub_row = self.query_one(HubRow)
            if hub_row.current_text() != self.draft.get("model.hub"):
                hub_row.sync(self.draft.get("model.hub"))
            self.fill_catalogue(self.query_one("#f-model--id", Input).value.strip())
        if path in ("model.id", "model.hub", "model.revision"):
            self.schedule_check()

    def schedule_check(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(0.4, self.start_check)

    @while_shown
    def start_check(self) -> None:
        row = self.query_one(ModelIdRow)
        status = self.query_one("#model-status", Static)
        if row.error:
            status.update("")
            return
        model_id = self.draft.get("model.id")
        status.update(i18n.t("model.checking", id=model_id))
        self.check(model_id, self.draft.get("model.hub"))

    @work(thread=True, exclusive=True, group="model-check")
    def check(self, model_id: str, hub: str) -> None:
        result = sources.check_model(model_id, hub)
        if get_current_worker().is_cancelled:
            return
        text = i18n.t("model.ok" if result.ok else "model.warn", detail=result.detail)
        self.app.call_from_thread(self._show_check, model_id, text)

    @while_shown
    def _show_check(self, model_id: str, text: str) -> None:
        if self.draft.get("model.id") == model_id:
            self.query_one("#model-status", Static).update(text)
