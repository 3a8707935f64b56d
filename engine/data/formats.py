"""Supervised formats (messages, alpaca, sharegpt) → one canonical shape: a list of chat messages."""

from __future__ import annotations

from typing import Any

from .rows import Problems, Row

ROLES = {"system", "user", "assistant", "tool"}
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


def detect(rows: list[Row]) -> str:
    """Name the format from the first row's keys; UserError-free (callers validate afterwards)."""
    keys = set(rows[0][1])
    if "messages" in keys and "rejected_response" in keys:
        return "dpo"
    if {"chosen", "rejected"} <= keys:
        return "dpo"
    if {"completion", "label"} <= keys:
        return "kto"
    if "messages" in keys:
        return "messages"
    if "conversations" in keys:
        return "sharegpt"
    if "instruction" in keys and "output" in keys:
        return "alpaca"
    return "unknown"


def _check_messages(messages: Any, line: int, problems: Problems) -> list[dict[str, str]] | None:
    if not isinstance(messages, list) or not messages:
        problems.add(line, "messages must be a non-empty list of {role, content}")
        return None
    out = []
    for j, msg in enumerate(messages):
        if not isinstance(msg, dict):
            problems.add(line, f"messages[{j}] must be an object with role and content")
            return None
        role, content = msg.get("role"), msg.get("content")
        if role not in ROLES:
            problems.add(line, f"messages[{j}].role must be one of {', '.join(sorted(ROLES))}, got {role!r}")
            return None
        if not isinstance(content, str):
            problems.add(line, f"messages[{j}].content must be text, got {type(content).__name__}")
            return None
        if role == "assistant" and not content.strip():
            problems.add(line, f"messages[{j}]: empty assistant turn")
            return None
        out.append({"role": role, "content": content})
    if not any(m["role"] == "assistant" for m in out):
        problems.add(line, "no assistant turn to learn from")
        return None
    return out


def to_messages(fmt: str, row: dict[str, Any], line: int, problems: Problems) -> list[dict[str, str]] | None:
    """One supervised row as chat messages, or None after recording what is wrong with it."""
    if fmt == "messages":
        messages = _check_messages(row.get("messages"), line, problems)
        if messages is not None and isinstance(row.get("system"), str) and messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": row["system"]})
        return messages
    if fmt == "alpaca":
        instruction, output = row.get("instruction"), row.get("output")
        extra = row.get("input") or ""
        if not isinstance(instruction, str) or not instruction.strip():
            problems.add(line, "missing field instruction (alpaca rows need instruction and output)")
            return None
        if not isinstance(output, str) or not output.strip():
            problems.add(line, "empty assistant turn: output is missing or empty")
            return None
        if not isinstance(extra, str):
            problems.add(line, "input must be text")
            return None
        prompt = f"{instruction}\n\n{extra}" if extra.strip() else instruction
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]
        if isinstance(row.get("system"), str) and row["system"].strip():
            messages.insert(0, {"role": "system", "content": row["system"]})
        return messages
    if fmt == "sharegpt":
        turns = row.get("conversations")
        if not isinstance(turns, list) or not turns:
            problems.add(line, "conversations must be a non-empty list of {from, value}")
            return None
        converted = []
        for j, turn in enumerate(turns):
            if not isinstance(turn, dict) or turn.get("from") not in SHAREGPT_ROLES:
                problems.add(line, f"conversations[{j}].from must be one of human, gpt, system")
                return None
            converted.append({"role": SHAREGPT_ROLES[turn["from"]], "content": turn.get("value")})
        return _check_messages(converted, line, problems)
    problems.add(line, f"format {fmt} is not a supervised format")
    return None
