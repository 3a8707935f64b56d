"""Load the supervised dataset of a job: every row checked before anything heavy happens."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..spec import JobSpec
from . import builtin
from .formats import Messages, to_messages
from .source import Identity, collect, resolve, split


@dataclass
class SftData:
    source: str
    format: str  # messages, alpaca or sharegpt (as chosen by format: auto, or as given)
    train: list[Messages]
    val: list[Messages]


def resolve_source(name: str) -> Path:
    """A dataset entry as a file path (a built-in name gives its first data file)."""
    return builtin.path(name) if builtin.is_builtin(name) else Path(name)


def load_sft(spec: JobSpec) -> SftData:
    """Every row of dataset.sft checked and turned into chat messages; UserError listing all problems otherwise."""
    if not spec.dataset.sft:
        raise UserError("dataset.sft: the sft stage needs training data; give a file or a built-in dataset name")
    source = resolve(spec.dataset.sft)
    fmt, rows, problems = collect(source, "sft", spec.dataset.format, Identity.of(spec.dataset), to_messages)
    problems.raise_if_any()
    train, val = split(rows, spec.dataset, spec.train.seed, source.label)
    return SftData(source.label, fmt, train, val)
