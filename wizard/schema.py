"""What the wizard knows about a JobSpec field, read from the pydantic models themselves.

Both front ends build their inputs from this: the kind of control, the choices, whether empty
means "unset", and the help text (the field's description). Nothing here restates a rule; the
models validate, this only describes.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from engine.spec import JobSpec


@dataclass(frozen=True)
class FieldMeta:
    path: str
    kind: str  # "choice" | "bool" | "text" (numbers, names, lists and mixed unions are typed as text)
    choices: tuple[str, ...]  # Literal values (for "choice", or the words a mixed union accepts)
    optional: bool  # None allowed: an empty input means "unset"
    listable: bool  # a list of strings allowed: "a, b" means ["a", "b"]
    description: str
    default: Any


def _members(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return list(typing.get_args(annotation))
    return [annotation]


def section_of(path: str) -> tuple[type[BaseModel], str, str]:
    """(model class owning the field, the section path, the field name) for a dotted path."""
    model: type[BaseModel] = JobSpec
    parts = path.split(".")
    for part in parts[:-1]:
        sub = model.model_fields[part].annotation
        assert isinstance(sub, type) and issubclass(sub, BaseModel), path
        model = sub
    return model, ".".join(parts[:-1]), parts[-1]


def is_section(info: FieldInfo) -> bool:
    return isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)


@cache
def meta(path: str) -> FieldMeta:
    model, _, name = section_of(path)
    info = model.model_fields[name]
    choices: list[str] = []
    optional = listable = False
    plain = False
    for member in _members(info.annotation):
        if member is type(None):
            optional = True
        elif typing.get_origin(member) is Literal:
            choices.extend(str(v) for v in typing.get_args(member))
        elif typing.get_origin(member) is list:
            listable = True
        else:
            plain = True
    if info.annotation is bool:
        kind = "bool"
    elif choices and not plain and not listable and not optional and all(
        isinstance(v, str) for v in _literal_values(info.annotation)
    ):
        kind = "choice"
    else:
        kind = "text"
    default = None if info.is_required() else info.get_default(call_default_factory=True)
    return FieldMeta(path, kind, tuple(choices), optional, listable, info.description or "", default)


def _literal_values(annotation: Any) -> list[Any]:
    out: list[Any] = []
    for member in _members(annotation):
        if typing.get_origin(member) is Literal:
            out.extend(typing.get_args(member))
    return out


def leaf_paths(model: type[BaseModel] = JobSpec, prefix: str = "") -> list[str]:
    """Every non-section field of the schema, in declaration order, as dotted paths."""
    out: list[str] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        if is_section(info):
            out.extend(leaf_paths(info.annotation, path + "."))  # type: ignore[arg-type]
        else:
            out.append(path)
    return out


def to_text(value: Any) -> str:
    """A stored value as the text an input shows (the inverse of the parsing in Draft.set_text)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def from_text(path: str, text: str) -> Any:
    """The raw value to hand pydantic for what was typed; pydantic does the converting and checking."""
    m = meta(path)
    stripped = text.strip()
    if m.kind == "bool":
        return stripped.lower() in ("1", "true", "yes", "on", "y")
    if stripped == "" and m.optional:
        return None
    if m.listable and stripped not in m.choices:
        return [part for part in stripped.replace(",", " ").split() if part] if stripped else []
    return stripped if m.kind == "text" else text
