"""What every step screen shares: title, intro, field rows with help, an advanced part, Back/Next.

A step screen returns its result with dismiss(): "next" or "back" (Review returns what to do
with the job). It never decides validity itself: Next asks steps.step_problems, which builds the
JobSpec, and marks each problem at its field.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Collapsible, Footer, Static

from .. import i18n, steps
from ..draft import Draft
from ..widgets.field import FieldRow, control_id


def while_shown(method: Callable[..., None]) -> Callable[..., None]:
    """For timer and worker callbacks: do nothing once the screen has left (its widgets may be half gone)."""

    @functools.wraps(method)
    def guarded(self: StepScreen, *args: Any) -> None:
        if not self.alive():
            return
        try:
            method(self, *args)
        except NoMatches:
            pass  # removed between the check and the query

    return guarded


# (keys, action, i18n key of the footer text, shown in the footer)
STEP_KEYS = [("ctrl+n", "next", "key.next", True), ("escape", "back", "key.back", True)]


def bind_keys(node: Screen | object, keys: list[tuple[str, str, str, bool]]) -> None:
    """(Re)bind keys with footer texts in the current language; called again after a language switch."""
    bindings = node._bindings  # type: ignore[attr-defined]
    for key, action, text, show in keys:
        for k in key.split(","):
            bindings.key_to_bindings.pop(k, None)
        bindings.bind(key, action, i18n.t(text), show=show, priority=key.startswith("ctrl+c"))
    node.refresh_bindings()  # type: ignore[attr-defined]


class StepScreen(Screen[object]):
    BINDINGS = [Binding(k, a, show=s) for k, a, _, s in STEP_KEYS]
    KEYS = STEP_KEYS

    def __init__(self, draft: Draft, step: steps.Step, position: tuple[int, int]) -> None:
        super().__init__(id=f"step-{step.id}")
        self.advanced_paths: list[str] = []
        self.draft = draft
        self.step = step
        self.position = position

    # ---- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        n, total = self.position
        yield Static(
            f"{i18n.t('app.title')}  ·  {i18n.t('step.counter', n=n, total=total)}  ·  [b]{i18n.t('step.' + self.step.id)}[/b]",
            id="title",
        )
        yield Static(i18n.t("intro." + self.step.id), id="intro", markup=False)
        with VerticalScroll(id="body", can_focus=False):
            yield from self.body()
        yield Static("", id="problems", markup=False)
        yield Static("", id="help", markup=False)
        with Horizontal(id="nav"):
            yield Button(i18n.t("button.back"), id="back", compact=True, disabled=n == 1)
            yield from self.actions()
        yield Footer()

    def body(self) -> ComposeResult:
        """The step's fields; screens with special widgets yield those first and then call this."""
        common, advanced = self.step.candidates(self.draft)
        for path in common:
            if path not in self.special():
                yield FieldRow(self.draft, path)
        yield from self.advanced_part(advanced)

    def advanced_part(self, advanced: list[str]) -> ComposeResult:
        """A collapsed "Advanced settings (n)" part; its rows are mounted the first time it opens,
        which keeps every screen quick to draw (a row is a handful of widgets)."""
        self.advanced_paths = advanced
        if not advanced:
            return
        n = sum(steps.applies(p, self.draft) for p in advanced)
        yield Collapsible(title=i18n.t("advanced", n=n), collapsed=True, id="advanced")

    async def open_advanced(self) -> None:
        box = self.query_one("#advanced", Collapsible)
        if not box.query(FieldRow):
            rows = [FieldRow(self.draft, p, classes="advanced-row") for p in self.advanced_paths]
            await box.query_one(Collapsible.Contents).mount_all(rows)
            self.refresh_applicable()
        box.collapsed = False

    async def on_collapsible_expanded(self, event: Collapsible.Expanded) -> None:
        await self.open_advanced()

    def special(self) -> tuple[str, ...]:
        """Fields this screen draws with its own widgets instead of a FieldRow."""
        return ()

    def actions(self) -> ComposeResult:
        yield Button(i18n.t("button.next"), id="next", variant="primary", compact=True)

    def on_mount(self) -> None:
        bind_keys(self, self.KEYS)
        self.query_one("#problems").display = False
        self.refresh_applicable()
        self.call_after_refresh(self.focus_first)

    def alive(self) -> bool:
        """Still on the stack with its widgets (a worker's answer may arrive after the screen closed)."""
        return self.is_attached and bool(self.query("#body"))

    def focus_first(self) -> None:
        for widget in self.query("#body *"):
            shown = all(node.display for node in widget.ancestors_with_self if isinstance(node, Widget))
            if widget.focusable and shown:
                widget.focus()
                return

    # ---- reacting to edits ---------------------------------------------------------------
    def rows(self) -> list[FieldRow]:
        return list(self.query(FieldRow))

    def refresh_applicable(self) -> None:
        """Show only the rows that matter for the job as answered so far (e.g. no LoRA rows for full)."""
        for row in self.rows():
            show = steps.applies(row.path, self.draft)
            if row.display != show:
                row.display = show
        if self.query("#advanced"):
            advanced = sum(steps.applies(p, self.draft) for p in self.advanced_paths)
            box = self.query_one("#advanced", Collapsible)
            title = i18n.t("advanced", n=advanced)
            if box.title != title:
                box.title = title

    def on_field_row_edited(self, event: FieldRow.Edited) -> None:
        event.stop()
        self.refresh_applicable()
        self.query_one("#problems").display = False
        self.edited(event.path)

    def edited(self, path: str) -> None:
        """Hook for screens that recompute something (estimate, preview) after an edit."""

    def on_descendant_focus(self, event: object) -> None:
        widget = getattr(event, "widget", None)
        path = None
        node = widget
        while node is not None and node is not self:
            if isinstance(node, FieldRow):
                path = node.path
                break
            path = getattr(node, "help_path", None)
            if path:
                break
            node = node.parent
        self.query_one("#help", Static).update(f"{i18n.label(path)}: {i18n.help_text(path)}" if path else "")

    def focused_path(self) -> str | None:
        node = self.focused
        while node is not None and node is not self:
            if isinstance(node, FieldRow):
                return node.path
            if getattr(node, "help_path", None):
                return node.help_path  # type: ignore[attr-defined]
            node = node.parent
        return None

    def on_input_submitted(self, event: object) -> None:
        """Enter in a text field moves on to the next field, as on a paper form."""
        self.focus_next()

    # ---- leaving -------------------------------------------------------------------------
    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "next":
            await self.action_next()
        elif event.button.id == "back":
            self.action_back()

    def action_back(self) -> None:
        if self.position[0] > 1:
            self.dismiss("back")

    async def action_next(self) -> None:
        if await self.blocked():
            return
        self.dismiss("next")

    async def blocked(self) -> bool:
        """True (with every problem marked) when this step has invalid edits or the job refuses it."""
        marked = [r for r in self.rows() if r.display and r.error]
        problems = [] if marked else steps.step_problems(self.step, self.draft)
        if any(p in self.advanced_paths for p, _ in problems):
            await self.open_advanced()  # mount the rows so the problem can be shown where it is
        loose: list[str] = []
        for path, message in problems:
            target = self.row_for(path)
            if target is not None:
                target.show_error(message)
                marked.append(target)
            else:
                loose.append(f"{path}: {message}")
        if loose:
            box = self.query_one("#problems", Static)
            box.update(i18n.t("problems") + "\n" + "\n".join(loose))
            box.display = True
        if marked or loose:
            self.notify(i18n.t("fix_first"), severity="error", timeout=4)
            if marked:
                self.reveal(marked[0])
            return True
        return False

    def row_for(self, path: str) -> Widget | None:
        found = self.query("#" + control_id(path) + "-row")
        return found.first() if found else None

    def reveal(self, row: Widget) -> None:
        if self.query("#advanced") and row in self.query_one("#advanced").query(FieldRow):
            self.query_one("#advanced", Collapsible).collapsed = False
        control = getattr(row, "control", row)
        self.call_after_refresh(control.focus)
