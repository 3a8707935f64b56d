"""Steps 3 and 4: the supervised data and the preference data — a built-in set or a local file.

Typing completes paths (Tab); picking a built-in fills its name. A moment after an edit the
engine's own preview (engine.data.preview) reads the source in a worker: detected format, row
count, first rows and every `file:line` problem its validator finds.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.timer import Timer
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from .. import i18n, sources
from ..draft import Draft
from ..widgets.field import FieldRow, control_id
from ..widgets.path_input import PathInput, PathSuggester
from .base import StepScreen, while_shown


class SourceRow(FieldRow):
    """dataset.sft / dataset.preference, typed with completion of paths and built-in names."""

    def __init__(self, draft: Draft, path: str, names: list[str]) -> None:
        super().__init__(draft, path)
        self.names = names

    def _control(self) -> PathInput:
        return PathInput(
            self.draft.text(self.path), placeholder=i18n.t("data.placeholder"), compact=True,
            id=control_id(self.path), suggester=PathSuggester(self.names), select_on_focus=False,
        )

    def _edit(self, text: str) -> None:
        self.show_error(self.draft.set_text(self.path, text))
        self.post_message(self.Edited(self, self.error))


class DataScreen(StepScreen):
    _timer: Timer | None = None

    @property
    def role(self) -> str:
        return "dataset.sft" if self.step.id == "data" else "dataset.preference"

    @property
    def kind(self) -> str:
        return "sft" if self.step.id == "data" else "preference"

    def special(self) -> tuple[str, ...]:
        return (self.role,)

    def body(self) -> ComposeResult:
        # The multimodal task offers the built-in image sets, the text tasks the text sets (any file may be typed).
        builtins = sources.datasets(self.kind, images=self.draft.vision)
        if self.draft.get(self.role) is None and builtins:
            self.draft.set_values({self.role: builtins[0].name})  # a first run works with no data of its own
        yield SourceRow(self.draft, self.role, [d.name for d in builtins])
        listing = OptionList(id="builtins")
        listing.help_path = self.role  # type: ignore[attr-defined]
        zh = i18n.lang() == "zh"
        for d in builtins:
            text = d.description_zh if zh else d.description
            line = Text(f"{d.name:<20} {d.rows:>4}  {text}", no_wrap=True, overflow="ellipsis")
            listing.add_option(Option(line, id=d.name))
        listing.border_title = i18n.t("data.builtins") if builtins else i18n.t("data.none")
        yield listing
        yield from super().body()
        yield Static("", id="preview", markup=False)
        yield Static("", id="thumbnails", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.schedule_preview()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id == "builtins" and event.option.id:
            source = self.query_one("#" + control_id(self.role), Input)
            source.value = event.option.id  # its Changed event stores it and refreshes the preview
            self.query_one("#next").focus()

    def edited(self, path: str) -> None:
        if path in (self.role, "dataset.format", "dataset.max_image_pixels") or path.startswith("dataset.model_"):
            self.schedule_preview()

    def schedule_preview(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(0.3, self.start_preview)

    @while_shown
    def start_preview(self) -> None:
        source = self.draft.get(self.role)
        box = self.query_one("#preview", Static)
        if not source:
            box.update("")
            return
        box.update(i18n.t("data.previewing", source=source))
        fmt = self.draft.get("dataset.format")
        if (fmt in ("dpo", "kto")) != (self.kind == "preference"):
            fmt = "auto"  # the format field names the other dataset's format; detect this one
        identity = {k: v for k in ("model_name", "model_author", "model_name_zh", "model_author_zh")
                    if (v := self.draft.get("dataset." + k))}
        model = {"id": self.draft.get("model.id"), "hub": self.draft.get("model.hub")}
        self.preview(source, fmt, identity, self.draft.get("dataset.max_image_pixels"), model)

    @work(thread=True, exclusive=True, group="preview")
    def preview(self, source: str, fmt: str, identity: dict[str, str], max_pixels: int | None,
                model: dict[str, str]) -> None:
        result = sources.preview(source, fmt, _identity_args(identity), max_pixels, model)
        strip = _thumbnails(result.images)  # drawn here, off the UI thread
        if get_current_worker().is_cancelled:
            return
        self.app.call_from_thread(self._show_preview, source, result, strip)

    @while_shown
    def _show_preview(self, source: str, result: sources.DataPreview, strip: Text | None = None) -> None:
        if self.draft.get(self.role) != source:
            return
        box = self.query_one("#preview", Static)
        thumbs = self.query_one("#thumbnails", Static)
        thumbs.update(strip or "")
        thumbs.display = strip is not None
        if not result.available:
            box.update(i18n.t("data.unavailable"))
            return
        lines = [i18n.t("data.preview", format=result.format, rows=result.rows)]
        if result.first:
            lines.append(i18n.t("data.first"))
            lines.extend(f"  {n}. " + _one_line(row, 68) for n, row in enumerate(result.first, start=1))
        if result.problems:
            lines.append(i18n.t("data.problems"))
            lines.extend("  " + p for p in result.problems[:10])
        box.update("\n".join(lines))
        box.set_class(bool(result.problems), "-problems")


def _thumbnails(images: list[list[str]], most: int = 4) -> Text | None:
    """The first rows' images side by side, each captioned with its row number; None when rows have none."""
    refs = [(f"{n}." if len(row) == 1 else f"{n}.{k}", ref) for n, row in enumerate(images, start=1)
            for k, ref in enumerate(row, start=1)][:most]
    if not refs:
        return None
    from ..widgets.thumbnail import side_by_side, thumbnail

    return side_by_side([thumbnail(ref) for _, ref in refs], [caption for caption, _ in refs])


def _one_line(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _identity_args(identity: dict[str, str]) -> dict[str, str] | None:
    """The preview's Identity keyword names for the job's identity fields (name/author and _zh)."""
    if not identity:
        return None
    names = {"model_name": "name", "model_author": "author", "model_name_zh": "name_zh", "model_author_zh": "author_zh"}
    return {names[k]: v for k, v in identity.items()}
