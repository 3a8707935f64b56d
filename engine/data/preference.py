"""Load the preference dataset of a job (DPO pairs or KTO labelled completions), all rows checked first.

Rows come out in TRL's conversational shape, so the DPO/KTO trainers apply the model's own chat
template:
  dpo: {"prompt": [messages], "chosen": [{"role": "assistant", ...}], "rejected": [{"role": "assistant", ...}]}
  kto: {"prompt": [messages], "completion": [{"role": "assistant", ...}], "label": bool}
Rows with images add "images" (absolute paths) and use content lists (engine.data.multimodal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import UserError
from ..spec import JobSpec
from .formats import Messages, check_messages
from .multimodal import Converter, uniform
from .rows import Problems, Record
from .source import Identity, collect, resolve, split


@dataclass
class PrefData:
    source: str
    format: str  # "dpo" or "kto"
    train: list[dict[str, Any]]
    val: list[dict[str, Any]]
    images: bool = False  # rows carry "images"; the format reads "dpo + images" (multimodal.label)


def load_preference(spec: JobSpec) -> PrefData:
    """Every row of dataset.preference checked and converted; UserError listing all problems otherwise."""
    entry = spec.dataset.preference
    if not entry:
        raise UserError("dataset.preference: the dpo stage needs preference data; give a file or a built-in name")
    source = resolve(entry)
    converter = Converter(spec.dataset.max_image_pixels)
    fmt, rows, problems = collect(source, "preference", spec.dataset.format, Identity.of(spec.dataset),
                                  converter.wrap(to_preference))
    converter.check_model(spec.model, problems)
    problems.raise_if_any()
    rows, images = uniform(rows)
    if fmt not in ("dpo", "kto"):
        raise UserError(f"{source.label}: its files mix formats ({fmt}); use dpo pairs or kto rows, not both")
    if fmt == "kto" and spec.dpo.algorithm == "dpo":
        raise UserError(
            f"{source.label}: kto rows (prompt/completion/label) have no pairs for DPO; "
            "set dpo.algorithm: kto, or give prompt/chosen/rejected pairs"
        )
    train, val = split(rows, spec.dataset, spec.train.seed, source.label)
    return PrefData(source.label, fmt, train, val, images)


def to_unpaired(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """DPO pairs as KTO rows: each chosen answer labelled true, each rejected one false."""
    out = []
    for row in rows:
        if "completion" in row:
            out.append(row)
            continue
        extra = {"images": row["images"]} if "images" in row else {}
        out.append({"prompt": row["prompt"], "completion": row["chosen"], "label": True, **extra})
        out.append({"prompt": row["prompt"], "completion": row["rejected"], "label": False, **extra})
    return out


def to_preference(fmt: str, record: Record, problems: Problems) -> dict[str, Any] | None:
    """One dpo/kto row in TRL's conversational shape, or None after recording what is wrong."""
    row = record.data
    if fmt == "kto":
        return _kto(row, record, problems)
    if fmt != "dpo":
        raise ValueError(f"{fmt} is not a preference format")
    if "rejected_response" in row or ("messages" in row and "chosen" not in row):
        return _messages_pair(row, record, problems)
    if "prompt" not in row and isinstance(row.get("chosen"), list) and isinstance(row.get("rejected"), list):
        return _implicit_pair(row, record, problems)
    prompt = _prompt(row, record, problems)
    chosen = _answer(row, "chosen", record, problems)
    rejected = _answer(row, "rejected", record, problems)
    return _pair(prompt, chosen, rejected, record, problems)


def _pair(prompt: Messages | None, chosen: Messages | None, rejected: Messages | None,
          record: Record, problems: Problems) -> dict[str, Any] | None:
    if prompt is None or chosen is None or rejected is None:
        return None
    if chosen == rejected:
        problems.at(record, "chosen and rejected are the same answer; the pair teaches nothing")
        return None
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def _system(row: dict[str, Any], prompt: list[dict[str, str]], record: Record, problems: Problems) -> Messages | None:
    system = row.get("system")
    if system is None or system == "":
        return prompt
    if not isinstance(system, str):
        problems.at(record, f"system must be text, got {type(system).__name__}")
        return None
    if system.strip() and prompt[0]["role"] != "system":
        return [{"role": "system", "content": system}, *prompt]
    return prompt


def _prompt(row: dict[str, Any], record: Record, problems: Problems) -> Messages | None:
    value = row.get("prompt")
    if value is None:
        problems.at(record, "missing field prompt")
        return None
    if isinstance(value, str):
        if not value.strip():
            problems.at(record, "prompt is empty")
            return None
        return _system(row, [{"role": "user", "content": value}], record, problems)
    if not isinstance(value, list):
        problems.at(record, f"prompt must be text or a list of messages, got {type(value).__name__}")
        return None
    messages = check_messages(value, "prompt", record, problems, need_assistant=False)
    if messages is None:
        return None
    if messages[-1]["role"] == "assistant":
        problems.at(record, "prompt must end with the user's turn; the answers go in chosen/rejected or completion")
        return None
    return _system(row, messages, record, problems)


def _answer(row: dict[str, Any], field: str, record: Record, problems: Problems) -> Messages | None:
    """An assistant answer: plain text, one {role: assistant, content} object, or a list of them."""
    value = row.get(field)
    if value is None:
        problems.at(record, f"missing field {field}")
        return None
    if isinstance(value, str):
        if not value.strip():
            problems.at(record, f"{field}: empty assistant turn")
            return None
        return [{"role": "assistant", "content": value}]
    if isinstance(value, dict):
        value = [value]
    messages = check_messages(value, field, record, problems)
    if messages is None:
        return None
    if any(m["role"] != "assistant" for m in messages):
        problems.at(record, f"{field} must hold only the assistant's answer (role assistant); "
                    "put the conversation before it in prompt")
        return None
    return messages


def _messages_pair(row: dict[str, Any], record: Record, problems: Problems) -> dict[str, Any] | None:
    """ms-swift style: messages ending in the preferred answer, plus rejected_response."""
    messages = check_messages(row.get("messages"), "messages", record, problems)
    rejected = _answer(row, "rejected_response", record, problems)
    if messages is None or rejected is None:
        return None
    if messages[-1]["role"] != "assistant":
        problems.at(record, "messages must end with the preferred (chosen) assistant turn")
        return None
    prompt = messages[:-1]
    if not any(m["role"] == "user" for m in prompt):
        problems.at(record, "messages needs a user turn before the chosen answer")
        return None
    prompt = _system(row, prompt, record, problems)
    return _pair(prompt, messages[-1:], rejected, record, problems)


def _implicit_pair(row: dict[str, Any], record: Record, problems: Problems) -> dict[str, Any] | None:
    """chosen and rejected as whole conversations that differ only in their last assistant turn."""
    chosen = check_messages(row["chosen"], "chosen", record, problems)
    rejected = check_messages(row["rejected"], "rejected", record, problems)
    if chosen is None or rejected is None:
        return None
    if chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
        problems.at(record, "chosen and rejected must each end with an assistant turn")
        return None
    if len(chosen) < 2 or chosen[:-1] != rejected[:-1]:
        problems.at(record, "missing field prompt: without it, chosen and rejected must be the same conversation "
                    "up to their last assistant turn")
        return None
    return _pair(chosen[:-1], chosen[-1:], rejected[-1:], record, problems)


def _kto(row: dict[str, Any], record: Record, problems: Problems) -> dict[str, Any] | None:
    prompt = _prompt(row, record, problems)
    completion = _answer(row, "completion", record, problems)
    label = _label(row, record, problems)
    if prompt is None or completion is None or label is None:
        return None
    return {"prompt": prompt, "completion": completion, "label": label}


def _label(row: dict[str, Any], record: Record, problems: Problems) -> bool | None:
    """A real boolean; the words true/false only from CSV, where every cell is text."""
    value = row.get("label")
    if isinstance(value, bool):
        return value
    if record.from_csv and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if value is None:
        problems.at(record, "missing field label (true for a good completion, false for a bad one)")
    elif isinstance(value, str) and not record.from_csv:
        problems.at(record, f"label must be true or false (a JSON boolean), got the string {value!r}")
    else:
        problems.at(record, f"label must be true or false, got {value!r}")
    return None
