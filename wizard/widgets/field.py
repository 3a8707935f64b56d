"""One JobSpec field as a labelled control that checks every edit against the JobSpec models.

The control is chosen from the field's type (a Select for choices, a Checkbox for booleans, an
Input otherwise). An edit the model refuses stays in the control, marked, with pydantic's
message under it, and the draft keeps its last valid value; the screen will not move on while
any row is marked.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static

from .. import i18n, schema
from ..draft import DEPLOY, Draft


def control_id(path: str) -> str:
    """A widget id for a field path (ids may not hold dots or plus signs)."""
    return "f-" + path.replace(".", "--").replace("+", "-")


class FieldRow(Widget):
    class Edited(Message):
        """Posted after every edit, valid or not, so the screen can refresh what depends on it."""

        def __init__(self, row: FieldRow, error: str | None) -> None:
            super().__init__()
            self.row = row
            self.path = row.path
            self.error = error

    def __init__(self, draft: Draft, path: str, classes: str = "") -> None:
        super().__init__(id=control_id(path) + "-row", classes=f"field-row {classes}".strip())
        self.draft = draft
        self.path = path
        self.error: str | None = None
        self._kind = "bool" if path == DEPLOY else schema.meta(path).kind
        self._seen = self.initial_text()  # controls announce their first value too: not an edit

    def initial_text(self) -> str:
        return self.draft.text(self.path)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-line"):
            yield Label(i18n.label(self.path), classes="field-label")
            yield self._control()
        yield Static("", classes="field-error", markup=False)

    def _control(self) -> Widget:
        cid = control_id(self.path)
        if self._kind == "choice":
            values = schema.meta(self.path).choices
            options = [(i18n.choice(self.path, v), v) for v in values]
            return Select(options, value=self.draft.get(self.path), allow_blank=False, compact=True, id=cid)
        if self._kind == "bool":
            value = bool(self.draft.get(self.path))
            return Checkbox(i18n.t("yes" if value else "no"), value=value, compact=True, id=cid)
        return Input(self.draft.text(self.path), compact=True, id=cid, select_on_focus=False)

    @property
    def control(self) -> Widget:
        return self.query_one("#" + control_id(self.path))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._changed(event.value)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value is not Select.BLANK:
            self._changed(str(event.value))

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        event.checkbox.label = i18n.t("yes" if event.value else "no")  # readable without colours too
        self._changed("true" if event.value else "false")

    def _changed(self, text: str) -> None:
        if text == self._seen:
            return
        self._seen = text
        self._edit(text)

    def _edit(self, text: str) -> None:
        self.show_error(self.draft.set_text(self.path, text))
        self.post_message(self.Edited(self, self.error))

    def show_error(self, message: str | None) -> None:
        """Mark the row with a message (from this field's model, or a cross-field rule), or clear it."""
        self.error = message
        self.query_one(".field-error", Static).update(message or "")
        self.set_class(bool(message), "-invalid")  # the stylesheet shows the message only then

    def sync(self, text: str) -> None:
        """Show a value the draft already holds (set by another widget) without treating it as an edit."""
        self._seen = text
        control = self.control
        with control.prevent(Input.Changed, Select.Changed, Checkbox.Changed):
            if isinstance(control, Checkbox):
                control.value = text == "true"
            else:
                control.value = text  # type: ignore[attr-defined]
        self.show_error(None)

    def current_text(self) -> str:
        """What the control holds now (which may be an invalid edit the draft did not take)."""
        control = self.control
        if isinstance(control, Input):
            return control.value
        if isinstance(control, Checkbox):
            return "true" if control.value else "false"
        if isinstance(control, Select):
            return str(control.value)
        return self.draft.text(self.path)
