"""From a dataset entry (a file or a built-in name) to checked rows, and from rows to train/val splits.

Shared by the supervised and preference loaders and by the wizard's preview, so all three find
the same problems in the same words.
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import UserError
from . import builtin
from .formats import allowed, detect, mismatch
from .rows import Problems, Record, read_records

T = TypeVar("T")
Convert = Callable[[str, Record, Problems], Any]


@dataclass(frozen=True)
class Identity:
    """What {{NAME}} / {{AUTHOR}} become in the built-in sets (Chinese rows may differ)."""

    name: str = "Hammer"
    author: str = "Yichuidingyin Lab"
    name_zh: str | None = None
    author_zh: str | None = None

    @classmethod
    def of(cls, dataset: Any) -> Identity:
        return cls(dataset.model_name, dataset.model_author, dataset.model_name_zh, dataset.model_author_zh)

    def for_lang(self, lang: Any) -> tuple[str, str]:
        if lang == "zh":
            return self.name_zh or self.name, self.author_zh or self.author
        return self.name, self.author


@dataclass(frozen=True)
class Source:
    label: str  # how messages name it: the file path, or "builtin NAME"
    files: tuple[Path, ...]
    builtin: builtin.BuiltinDataset | None = None


def resolve(entry: str) -> Source:
    """A dataset entry as files: a built-in name, else a path."""
    if builtin.is_builtin(entry):
        ds = builtin.get(entry)
        return Source(f"builtin {entry}", ds.files, ds)
    return Source(entry, (Path(entry).expanduser(),))


def collect(
    source: Source, kind: str | None, requested: str, identity: Identity, convert: Convert
) -> tuple[str, list[Any], Problems]:
    """Read, fill placeholders, detect the format per file and convert every row; problems are kept.

    `requested` is the job's dataset.format: it applies when it is a format of this kind,
    otherwise the format is detected (and reported) per file.
    """
    problems = Problems(source.label)
    explicit = requested in allowed(kind)
    found: list[str] = []
    out: list[Any] = []
    for path in source.files:
        if source.builtin is None and not path.exists():
            raise UserError(_missing(path))
        before = problems.count
        records = read_records(path, problems)
        if not records:
            if problems.count == before:
                problems.add(None, "the dataset has no rows", str(path))
            continue
        if source.builtin is not None and source.builtin.placeholders:
            for record in records:
                record.data = builtin.fill(record.data, *identity.for_lang(record.data.get("lang")))
        fmt = requested if explicit else detect(records, kind, problems)
        if fmt is None:
            continue
        found.append(fmt)
        for record in records:
            odd = None if explicit else mismatch(record, fmt)
            row = None if odd else convert(fmt, record, problems)
            if odd:
                problems.at(record, odd)
            elif row is not None:
                out.append(row)
    return "+".join(dict.fromkeys(found)) or "unknown", out, problems


def _missing(path: Path) -> str:
    """No such file: name the built-in sets too, since a bare word was probably meant as one."""
    close = difflib.get_close_matches(str(path), builtin.names(), n=1, cutoff=0.6)
    hint = f"; did you mean the built-in dataset {close[0]}?" if close else ""
    if not close and path.suffix == "" and "/" not in str(path):
        hint = f"; built-in datasets are {', '.join(builtin.names())}"
    return f"{path}: no such dataset file{hint}"


def split(rows: list[T], dataset: Any, seed: int, label: str) -> tuple[list[T], list[T]]:
    """Shuffle with the job seed, cap at max_samples, then hold out val_ratio (at least one row when > 0)."""
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    if dataset.max_samples:
        rows = rows[: dataset.max_samples]
    n_val = int(len(rows) * dataset.val_ratio)
    if dataset.val_ratio > 0 and n_val == 0 and len(rows) > 1:
        n_val = 1
    val, train = rows[:n_val], rows[n_val:]
    if not train:
        raise UserError(f"{label}: no training rows left after max_samples/val_ratio; use more data or lower val_ratio")
    return train, val
