"""Load the supervised dataset of a job: every row checked before anything heavy happens.

Text rows come out as chat messages. When rows carry images, every row comes out in the
structured layout of engine.data.multimodal ({"messages": [...content lists...], "images": [...]})
and `images` is True; its `to_prompt_completion` gives the layout that masks all but the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..spec import JobSpec
from . import builtin
from .formats import Messages, to_messages
from .multimodal import Converter, label, uniform
from .source import Identity, collect, resolve, split


@dataclass
class SftData:
    source: str
    format: str  # messages, alpaca or sharegpt (as chosen by format: auto, or as given); "... + images"
    train: list[Messages] | list[dict[str, Any]]  # with images: {"messages": [...], "images": [absolute paths]}
    val: list[Messages] | list[dict[str, Any]]
    images: bool = False


def resolve_source(name: str) -> Path:
    """A dataset entry as a file path (a built-in name gives its first data file)."""
    return builtin.path(name) if builtin.is_builtin(name) else Path(name)


def load_sft(spec: JobSpec) -> SftData:
    """Every row of dataset.sft checked and turned into chat messages; UserError listing all problems otherwise."""
    if not spec.dataset.sft:
        raise UserError("dataset.sft: the sft stage needs training data; give a file or a built-in dataset name")
    source = resolve(spec.dataset.sft)
    converter = Converter(spec.dataset.max_image_pixels)
    fmt, rows, problems = collect(source, "sft", spec.dataset.format, Identity.of(spec.dataset),
                                  converter.wrap(to_messages))
    converter.check_model(spec.model, problems)
    problems.raise_if_any()
    rows, images = uniform(rows)
    train, val = split(rows if images else [r["messages"] for r in rows], spec.dataset, spec.train.seed, source.label)
    return SftData(source.label, label(fmt, images), train, val, images)
