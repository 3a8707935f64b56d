"""Rows with images: convert supervised and preference rows to one internal form, and hand it to TRL.

The internal form (what load_sft / load_preference return when a dataset has images) is TRL 1.16's
structured layout, so the training side passes rows on unchanged:
  supervised: {"messages": [{"role", "content": [{"type": "image"}, {"type": "text", "text"}]}], "images": [abs paths]}
  preference: {"prompt": [...], "chosen": [...], "rejected": [...], "images": [...]}   (kto: completion + label)
`to_prompt_completion` gives supervised rows as prompt/completion, the layout in which TRL 1.16
masks everything but the answer with images (assistant_only_loss needs transformers 5.18).
A text row in a dataset with images gets the same layout with `images: []`, so a table has one schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..spec.dataset import MAX_IMAGE_PIXELS
from .images import check_image, check_tags, flatten_parts, has_tags, listed_images, to_parts
from .rows import Problems, Record
from .source import Convert

MESSAGE_FIELDS = ("messages", "prompt", "chosen", "rejected", "completion")


class Converter:
    """Convert rows (text or with images), checking every image; remembers where the first image row is."""

    def __init__(self, max_image_pixels: int = MAX_IMAGE_PIXELS) -> None:
        self.limit = max_image_pixels
        self.first_image: tuple[str, int] | None = None

    def wrap(self, base: Convert) -> Convert:
        """`base` (to_messages, to_preference, ...) with images found, checked and laid out around it."""

        def convert(fmt: str, record: Record, problems: Problems) -> dict[str, Any] | None:
            refs = self._refs(record, problems)
            row = None if refs is None else base(fmt, record, problems)
            if row is None or refs is None:
                return None
            return self._finish(row if isinstance(row, dict) else {"messages": row}, refs, record, problems)

        return convert

    def _refs(self, record: Record, problems: Problems) -> list[str] | None:
        parts = flatten_parts(record, problems)
        listed = None if parts is None else listed_images(record, problems)
        return None if listed is None else (parts or listed)

    def _finish(self, row: dict[str, Any], refs: list[str], record: Record, problems: Problems) -> dict[str, Any] | None:
        messages = [m for f in MESSAGE_FIELDS if isinstance(row.get(f), list) for m in row[f]]
        if not refs and not any(has_tags(m["content"]) for m in messages):
            return row
        ok = check_tags(messages, len(refs), record, problems)
        images = [check_image(ref, f"images[{i}]", record, problems, self.limit) for i, ref in enumerate(refs)]
        if not ok or any(i is None for i in images):
            return None
        if self.first_image is None:
            self.first_image = (record.file, record.line)
        out = {k: to_parts(v) if k in MESSAGE_FIELDS and isinstance(v, list) else v for k, v in row.items()}
        return {**out, "images": images}

    def check_model(self, model: Any, problems: Problems) -> None:
        """Images given to a text-only model: one problem at the first image row (skipped when unknown)."""
        if self.first_image is None or model is None or model_takes_images(model) is not False:
            return
        file, line = self.first_image
        problems.add(line, f"this dataset has images, but model.id {model.id} is a text-only model (no vision_config "
                     "in its config.json); choose a vision-language model, or use rows without images", file)


def uniform(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    """Whether any row has images; if so, every row in the structured layout (text rows with images: [])."""
    if not any("images" in r for r in rows):
        return rows, False
    out = []
    for row in rows:
        if "images" not in row:
            row = {**{k: to_parts(v) if k in MESSAGE_FIELDS and isinstance(v, list) else v
                      for k, v in row.items()}, "images": []}
        out.append(row)
    return out, True


def label(fmt: str, images: bool) -> str:
    """The format as reported: "messages + images", "dpo + images", or the text format as it was."""
    return f"{fmt} + images" if images else fmt


def to_prompt_completion(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Supervised rows in the structured layout as prompt/completion: the last assistant turn is the completion.

    The layout in which TRL 1.16 computes the loss on the answer only when rows have images.
    """
    out = []
    for row in rows:
        messages = row["messages"]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        out.append({"prompt": messages[:last], "completion": [messages[last]], "images": list(row.get("images", []))})
    return out


def model_takes_images(model: Any) -> bool | None:
    """Whether the job's model reads images: True / False when it can be known offline, None when not.

    The registry knows catalogue and builtin entries and folders with an absolute path; a relative
    local folder is read here ("vision_config" in its config.json) so the preview can say it too.
    """
    from .. import registry

    try:
        info = registry.resolve(model)
    except Exception:  # an unreadable folder or a half-built catalogue: unknown, not an error here
        info = None
    if info is not None:
        return info.modality == "vision"
    if getattr(model, "hub", None) != "local":
        return None
    folder = Path(str(model.id)).expanduser()
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return isinstance(config, dict) and "vision_config" in config
