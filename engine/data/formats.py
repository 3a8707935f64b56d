"""Row formats: detect them, and turn supervised rows (messages, alpaca, sharegpt) into chat messages.

Every check records its problem on the row's line and returns None instead of raising, so a file
with many bad rows is reported in one pass.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .rows import Problems, Record

SUPERVISED = ("messages", "alpaca", "sharegpt")
PREFERENCE = ("dpo", "kto")
ROLES = ("system", "user", "assistant", "tool")
SHAREGPT_ROLES = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
    "system": "system", "tool": "tool", "observation": "tool",
}
KEYS = {
    "messages": "messages",
    "alpaca": "instruction/input/output",
    "sharegpt": "conversations with from/value",
    "dpo": "prompt/chosen/rejected or messages+rejected_response",
    "kto": "prompt/completion/label",
}
Messages = list[dict[str, str]]


def row_format(data: dict[str, Any]) -> str | None:
    """The format one row's keys say it is in, or None when they say nothing."""
    keys = set(data)
    if "rejected_response" in keys or {"chosen", "rejected"} <= keys:
        return "dpo"
    if {"completion", "label"} <= keys:
        return "kto"
    if "messages" in keys:
        return "messages"
    if "conversations" in keys:
        return "sharegpt"
    if "instruction" in keys or ("output" in keys and "input" in keys):
        return "alpaca"
    return None


def allowed(kind: str | None) -> tuple[str, ...]:
    """The formats a dataset of this kind (sft, preference, or None for either) may be in."""
    return {"sft": SUPERVISED, "preference": PREFERENCE}.get(kind or "", SUPERVISED + PREFERENCE)


def expected(kind: str | None) -> str:
    return "; ".join(f"{n} rows have {KEYS[n]}" for n in allowed(kind))


def detect(records: list[Record], kind: str | None, problems: Problems) -> str | None:
    """The format most rows of one file are in (problems reports when there is none, or the wrong kind).

    Majority, not the first row, decides: one odd first line should be reported, not make
    every other line look wrong.
    """
    found = [(r, row_format(r.data)) for r in records]
    votes = Counter(f for _, f in found if f)
    if not votes:
        first = records[0]
        problems.at(first, f"cannot tell the format from the keys ({_keys(first.data)}); {expected(kind)}")
        return None
    fmt = votes.most_common(1)[0][0]
    if fmt not in allowed(kind):
        where = "dataset.preference" if fmt in PREFERENCE else "dataset.sft"
        need = "supervised rows (messages, alpaca or sharegpt)" if kind == "sft" else "preference rows (dpo or kto)"
        problems.add(None, f"this is {fmt} data ({KEYS[fmt]}), but this dataset needs {need}; "
                     f"give this file as {where}", records[0].file)
        return None
    return fmt


def mismatch(record: Record, fmt: str) -> str | None:
    """Why a row does not belong in a file detected as `fmt`, or None when it may (its keys say so, or nothing).

    A row whose keys say nothing is converted anyway, so it is told which field it lacks.
    """
    other = row_format(record.data)
    if other is None or other == fmt:
        return None
    return f"this row is {other} ({KEYS[other]}) but the file is {fmt}; use one format per file"


def _keys(data: dict[str, Any]) -> str:
    return ", ".join(sorted(data)) or "none"


def check_messages(value: Any, field: str, record: Record, problems: Problems, *, need_assistant: bool = True) -> Messages | None:
    """A validated list of {role, content} messages, or None after recording what is wrong."""
    if not isinstance(value, list) or not value:
        problems.at(record, f"{field} must be a non-empty list of {{role, content}} messages")
        return None
    out: Messages = []
    for j, msg in enumerate(value):
        where = f"{field}[{j}]"
        if not isinstance(msg, dict):
            problems.at(record, f"{where} must be an object with role and content")
            return None
        role, content = msg.get("role"), msg.get("content")
        if role not in ROLES:
            problems.at(record, f"{where}.role must be one of {', '.join(ROLES)}, got {role!r}")
            return None
        if not isinstance(content, str):
            problems.at(record, f"{where}.content must be text, got {'nothing' if content is None else type(content).__name__}")
            return None
        if role == "assistant" and not content.strip():
            problems.at(record, f"{where}: empty assistant turn")
            return None
        if role == "system" and j > 0:
            problems.at(record, f"{where}: a system message must come first")
            return None
        out.append({"role": role, "content": content})
    if need_assistant and not any(m["role"] == "assistant" for m in out):
        problems.at(record, f"{field} has no assistant turn to learn from")
        return None
    return out


def _text(row: dict[str, Any], field: str, record: Record, problems: Problems, *, required: bool) -> str | None:
    """A text field: '' when optional and absent; None (after a problem) when wrong."""
    value = row.get(field)
    if value is None or (value == "" and not required):
        if required:
            problems.at(record, f"missing field {field}")
            return None
        return ""
    if not isinstance(value, str):
        problems.at(record, f"{field} must be text, got {type(value).__name__}")
        return None
    return value


def _with_system(messages: Messages, row: dict[str, Any], record: Record, problems: Problems) -> Messages | None:
    system = _text(row, "system", record, problems, required=False)
    if system is None:
        return None
    if system.strip() and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system})
    return messages


def _alpaca(row: dict[str, Any], record: Record, problems: Problems) -> Messages | None:
    instruction = _text(row, "instruction", record, problems, required=True)
    extra = _text(row, "input", record, problems, required=False)
    output = _text(row, "output", record, problems, required=True)
    if instruction is None or extra is None or output is None:
        return None
    if not instruction.strip() and not extra.strip():
        problems.at(record, "instruction is empty: nothing to answer")
        return None
    if not output.strip():
        problems.at(record, "output: empty assistant turn")
        return None
    messages: Messages = []
    history = row.get("history") or []
    if not isinstance(history, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(t, str) for t in p) for p in history
    ):
        problems.at(record, "history must be a list of [question, answer] pairs of text")
        return None
    for question, answer in history:
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    prompt = f"{instruction}\n\n{extra}" if instruction.strip() and extra.strip() else instruction or extra
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]
    return _with_system(messages, row, record, problems)


def _sharegpt(row: dict[str, Any], record: Record, problems: Problems) -> Messages | None:
    turns = row.get("conversations")
    if not isinstance(turns, list) or not turns:
        problems.at(record, "conversations must be a non-empty list of {from, value}")
        return None
    converted = []
    for j, turn in enumerate(turns):
        if not isinstance(turn, dict) or turn.get("from") not in SHAREGPT_ROLES:
            got = turn.get("from") if isinstance(turn, dict) else turn
            problems.at(record, f"conversations[{j}].from must be one of human, gpt, system, tool; got {got!r}")
            return None
        converted.append({"role": SHAREGPT_ROLES[turn["from"]], "content": turn.get("value")})
    messages = check_messages(converted, "conversations", record, problems)
    return None if messages is None else _with_system(messages, row, record, problems)


def to_messages(fmt: str, record: Record, problems: Problems) -> Messages | None:
    """One supervised row as chat messages, or None after recording what is wrong with it."""
    row = record.data
    if fmt == "messages":
        if "messages" not in row:
            problems.at(record, "missing field messages")
            return None
        messages = check_messages(row["messages"], "messages", record, problems)
        return None if messages is None else _with_system(messages, row, record, problems)
    if fmt == "alpaca":
        return _alpaca(row, record, problems)
    if fmt == "sharegpt":
        if "conversations" not in row:
            problems.at(record, "missing field conversations")
            return None
        return _sharegpt(row, record, problems)
    raise ValueError(f"{fmt} is not a supervised format")
