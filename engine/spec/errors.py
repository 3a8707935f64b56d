"""Turn pydantic's errors into the one-line-per-problem messages an operator can act on."""

from __future__ import annotations

import difflib
import json
from typing import Any

from pydantic import BaseModel, ValidationError


def _path(loc: tuple[Any, ...]) -> str:
    """YAML path of a field: train.lora.r, stages[2]; odd keys quoted so the message stays one line."""
    out = ""
    for part in loc:
        text = str(part)
        if isinstance(part, int):
            out += f"[{part}]"
        elif text and all(ch.isalnum() or ch in "_-+" for ch in text):
            out += ("." if out else "") + text
        else:
            out += f"[{json.dumps(text, ensure_ascii=True)}]"
    return out


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the field at loc[:-1], for did-you-mean hints."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        model = field.annotation
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def format_errors(exc: ValidationError, root: type[BaseModel]) -> list[tuple[str, str]]:
    """Return (field path, message) pairs, one per problem, in the order pydantic found them."""
    out: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        # Union members add their type names to the location; drop them.
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("int", "str", "float", "list"))))
        kind = err["type"]
        if kind == "extra_forbidden":
            name = str(loc[-1]) if loc else "?"
            owner = _model_at(root, loc)
            hint = ""
            if owner is not None:
                close = difflib.get_close_matches(name, list(owner.model_fields), n=1)
                if close:
                    hint = f"; did you mean {close[0]}?"
            out.append((_path(loc), f"unknown field{hint}"))
            continue
        msg = err["msg"]
        if kind == "value_error":
            msg = msg.removeprefix("Value error, ")
            lines = msg.split("\n")
            for line in lines:
                field, sep, rest = line.partition(": ")
                if not loc and sep and " " not in field:
                    out.append((field, rest))
                else:
                    out.append((_path(loc) or "job", line))
            continue
        if kind == "missing":
            out.append((_path(loc), "is required"))
            continue
        out.append((_path(loc), f"{msg} (got {_shown(err.get('input'))})"))
    return out
