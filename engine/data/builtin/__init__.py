"""Datasets shipped with the project, so a first run needs no data of one's own.

The sets are data files next to this module, listed in registry.json; this code only reads the
list. It imports nothing heavy: the wizard calls list_builtin() while drawing a screen.
Rows may hold {{NAME}} / {{AUTHOR}} placeholders, filled from the job when loaded. Image sets
(shapes-vqa*) keep their PNGs in a folder beside their rows; make_images.py regenerates them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

HERE = Path(__file__).resolve().parent
REGISTRY = HERE / "registry.json"
PLACEHOLDERS = ("{{NAME}}", "{{AUTHOR}}")


@dataclass(frozen=True)
class BuiltinDataset:
    name: str
    kind: Literal["sft", "preference"]
    rows: int
    description: str
    description_zh: str
    files: tuple[Path, ...]
    placeholders: bool
    images: bool = False  # rows carry images (for vision-language models); paths relative to the data file


@cache
def _registry() -> dict[str, BuiltinDataset]:
    raw: dict[str, dict[str, Any]] = json.loads(REGISTRY.read_text(encoding="utf-8"))
    out = {}
    for name, entry in raw.items():
        files = tuple(HERE / f for f in entry["files"])
        rows = sum(sum(1 for line in f.read_text(encoding="utf-8").splitlines() if line.strip()) for f in files)
        out[name] = BuiltinDataset(
            name=name,
            kind=entry["kind"],
            rows=rows,
            description=entry["description"],
            description_zh=entry["description_zh"],
            files=files,
            placeholders=bool(entry.get("placeholders")),
            images=bool(entry.get("images")),
        )
    return out


def list_builtin(kind: str | None = None) -> list[BuiltinDataset]:
    """Every built-in dataset (or those of one kind: sft / preference), in registry order."""
    return [d for d in _registry().values() if kind is None or d.kind == kind]


def is_builtin(name: str) -> bool:
    return name in _registry()


def get(name: str) -> BuiltinDataset:
    return _registry()[name]


def path(name: str) -> Path:
    """The (first) data file of a built-in dataset; paths() gives all files of a mix."""
    return _registry()[name].files[0]


def paths(name: str) -> list[Path]:
    return list(_registry()[name].files)


def names(kind: str | None = None) -> list[str]:
    return [d.name for d in list_builtin(kind)]


def fill(value: Any, name: str, author: str) -> Any:
    """Replace {{NAME}} / {{AUTHOR}} in every string inside a row (lists and objects included)."""
    if isinstance(value, str):
        return value.replace("{{NAME}}", name).replace("{{AUTHOR}}", author)
    if isinstance(value, list):
        return [fill(v, name, author) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, name, author) for k, v in value.items()}
    return value
