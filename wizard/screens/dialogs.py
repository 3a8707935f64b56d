"""Small modal dialogs: a yes/no question, and the help page (keys, this step, the focused field)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from .. import i18n


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("y", "answer(True)", show=False), Binding("n,escape", "answer(False)", show=False)]

    def __init__(self, question: str) -> None:
        super().__init__(id="confirm")
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(i18n.t("button.yes"), id="yes", variant="error", compact=True)
                yield Button(i18n.t("button.no"), id="no", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,f1,question_mark,enter", "close", show=False)]

    def __init__(self, step: str | None, field: str | None) -> None:
        super().__init__(id="help-screen")
        self.step = step
        self.field = field

    def compose(self) -> ComposeResult:
        parts = [i18n.t("help.keys")]
        if self.step:
            parts.append(f"{i18n.t('step.' + self.step)}: {i18n.t('intro.' + self.step)}")
        if self.field:
            parts.append(f"{i18n.t('help.field')} {i18n.label(self.field)} ({self.field})\n{i18n.help_text(self.field)}")
        with Vertical(classes="dialog"):
            yield Static(f"[b]{i18n.t('help.title')}[/b]")
            yield Static("\n\n".join(parts), markup=False)
            yield Button(i18n.t("key.close"), id="close", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
