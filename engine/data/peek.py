"""A quick look at a dataset for the wizard: format, row count, first rows and problems — never raises.

Imports nothing heavy (no torch, transformers or datasets), so a screen can call it while the
operator types a path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError
from ..spec.dataset import MAX_IMAGE_PIXELS
from .formats import PREFERENCE, SUPERVISED, row_format, to_messages
from .multimodal import Converter, label
from .preference import to_preference
from .rows import Problems, Record, read_records
from .source import Identity, collect, resolve


@dataclass
class Preview:
    source: str
    format: str  # detected (or given) format; "unknown" when it cannot be told
    kind: str  # sft, preference or unknown
    rows: int  # rows that passed every check
    first: list[dict[str, Any]] = field(default_factory=list)  # converted rows: {"messages": [...]} or TRL rows
    # with images: content lists and "images" (absolute paths); format reads "messages + images"
    problems: list[str] = field(default_factory=list)  # "file:line: what is wrong", capped


def _convert(fmt: str, record: Record, problems: Problems) -> dict[str, Any] | None:
    if fmt in SUPERVISED:
        messages = to_messages(fmt, record, problems)
        return None if messages is None else {"messages": messages}
    return to_preference(fmt, record, problems)


def _kind(source_files: Any, fmt: str) -> str | None:
    """sft or preference: from the given format, else from what most rows of the first file look like."""
    if fmt in SUPERVISED:
        return "sft"
    if fmt in PREFERENCE:
        return "preference"
    try:
        records = read_records(source_files[0], Problems(str(source_files[0])))
    except UserError:
        return None
    votes = [row_format(r.data) for r in records]
    pref = sum(v in PREFERENCE for v in votes)
    sup = sum(v in SUPERVISED for v in votes)
    return None if not pref and not sup else ("preference" if pref > sup else "sft")


def preview(source: str, fmt: str = "auto", limit: int = 3, identity: Identity | None = None,
            max_image_pixels: int = MAX_IMAGE_PIXELS, model: Any = None) -> Preview:
    """What loading `source` would find; built-in placeholders filled with `identity` (defaults).

    Images are checked as training checks them; with the job's `model` (its model section),
    images given to a text-only model are reported too.
    """
    src = resolve(source)
    kind = src.builtin.kind if src.builtin else _kind(src.files, fmt)
    converter = Converter(max_image_pixels)
    try:
        found, rows, problems = collect(src, kind, fmt, identity or Identity(), converter.wrap(_convert))
    except UserError as exc:
        return Preview(src.label, "unknown", kind or "unknown", 0, [], list(exc.lines))
    converter.check_model(model, problems)
    images = any("images" in r for r in rows)
    return Preview(src.label, label(found, images), kind or "unknown", len(rows), rows[:limit], problems.all_lines())
