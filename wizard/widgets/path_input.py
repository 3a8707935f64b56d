"""An Input that completes file paths and built-in names; Tab (or →) accepts the grey suggestion.

Tab still moves to the next field when there is nothing to complete, so keyboard navigation is
unchanged for an operator who does not want completion.
"""

from __future__ import annotations

import os
from pathlib import Path

from textual.binding import Binding
from textual.suggester import Suggester
from textual.widgets import Input


class PathSuggester(Suggester):
    def __init__(self, names: list[str]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.names = names

    async def get_suggestion(self, value: str) -> str | None:
        return suggest(value, self.names)


def suggest(value: str, names: list[str]) -> str | None:
    """The completion of `value`: a built-in name it starts, else the longest path it can extend to."""
    if not value:
        return None
    for name in names:
        if name.startswith(value) and name != value:
            return name
    expanded = os.path.expanduser(value)
    folder, stem = os.path.split(expanded)
    try:
        listing = os.listdir(folder or ".")
    except OSError:
        return None
    entries = sorted(e for e in listing if e.startswith(stem) and (stem.startswith(".") or not e.startswith(".")))
    if not entries:
        return None
    common = os.path.commonprefix(entries)
    if len(entries) == 1 and (Path(folder or ".") / entries[0]).is_dir():
        common += "/"
    if len(common) <= len(stem):
        return None
    completed = os.path.join(folder, common) if folder else common
    if value.startswith("~"):
        completed = "~" + completed[len(os.path.expanduser("~")):]
    return completed


class PathInput(Input):
    BINDINGS = [Binding("tab", "complete", "complete", show=False)]

    def action_complete(self) -> None:
        if self._suggestion and len(self._suggestion) > len(self.value):
            self.value = self._suggestion
            self.cursor_position = len(self.value)
        else:
            self.screen.focus_next()
