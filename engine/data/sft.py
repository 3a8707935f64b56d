"""Load the supervised dataset of a job: all rows checked before anything heavy happens."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..spec import JobSpec
from . import formats
from .rows import Problems, read_rows

SUPERVISED = ("messages", "alpaca", "sharegpt")


@dataclass
class SftData:
    source: str
    format: str
    train: list[list[dict[str, str]]]
    val: list[list[dict[str, str]]]


def resolve_source(name: str) -> Path:
    """A dataset entry as a file path; built-in names are resolved by engine.data.builtin when present."""
    try:
        from . import builtin  # optional registry of shipped datasets
    except ImportError:
        builtin = None
    if builtin is not None and builtin.is_builtin(name):
        return builtin.path(name)
    return Path(name)


def load_sft(spec: JobSpec) -> SftData:
    if not spec.dataset.sft:
        raise UserError("dataset.sft: the sft stage needs training data")
    path = resolve_source(spec.dataset.sft)
    problems = Problems(str(path))
    rows = read_rows(path, problems)
    if not rows:
        problems.raise_if_any()
    fmt = spec.dataset.format
    if fmt == "auto":
        fmt = formats.detect(rows)
        if fmt not in SUPERVISED:
            keys = ", ".join(sorted(rows[0][1])) or "(none)"
            raise UserError(
                f"{path}:{rows[0][0]}: cannot tell the format from the keys ({keys}); "
                "supervised rows need messages, conversations, or instruction+output"
            )
    examples = []
    for line, row in rows:
        messages = formats.to_messages(fmt, row, line, problems)
        if messages is not None:
            examples.append(messages)
    problems.raise_if_any()
    rng = random.Random(spec.train.seed)
    rng.shuffle(examples)
    if spec.dataset.max_samples:
        examples = examples[: spec.dataset.max_samples]
    n_val = int(len(examples) * spec.dataset.val_ratio)
    if spec.dataset.val_ratio > 0 and n_val == 0 and len(examples) > 1:
        n_val = 1
    val, train = examples[:n_val], examples[n_val:]
    if not train:
        raise UserError(f"{path}: no training rows left after max_samples/val_ratio; use more data or lower val_ratio")
    return SftData(str(path), fmt, train, val)
