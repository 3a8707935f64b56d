"""Which rows calibrate the quantiser, which are held out to verify it, and how each becomes text.

Default: the job's own SFT data (the export then sees the activations it will serve). Some rows are
held out and never shown to the calibration, so the quality check is not graded on its own homework.
A sample is either a chat (a list of {role, content}) rendered with the model's own chat template,
or a plain text.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..spec import JobSpec
from . import texts

Sample = list[dict[str, str]] | str
MAX_HELD_OUT = 8


@dataclass
class CalibrationSet:
    source: str
    calibration: list[Sample]
    held_out: list[Sample]
    available: int = 0  # rows that could calibrate (the ladder's "more calibration rows" stops there)


def select(spec: JobSpec, samples_wanted: int | None = None) -> CalibrationSet:
    """Calibration and held-out samples for this job; UserError naming the field when there is no data.

    samples_wanted overrides export.calibration_samples (the precision ladder asks for more rows).
    """
    source, samples = _samples(spec)
    n = samples_wanted or spec.export.calibration_samples
    held = min(MAX_HELD_OUT, max(1, len(samples) // 4)) if len(samples) > 1 else 0
    if held == 0:
        raise UserError(
            f"export.calibration_dataset: {source} has {len(samples)} usable row; calibration and the quality "
            "check need at least 2 (some are held out); give more rows"
        )
    held_out, rest = samples[:held], samples[held:]
    return CalibrationSet(source, rest[:n], held_out, available=len(rest))


def _samples(spec: JobSpec) -> tuple[str, list[Sample]]:
    name = spec.export.calibration_dataset
    if name:
        if name == texts.NAME:
            return f"built-in {texts.NAME}", list(texts.TEXTS)
        return _from_file(name, spec)
    if spec.dataset.sft:
        from ..data.sft import load_sft

        data = load_sft(spec)
        # Rows the training held out for evaluation come first, so they are the ones held out here too.
        return f"{data.source} (the job's SFT data)", [*data.val, *data.train]
    return f"built-in {texts.NAME} (the job has no SFT data)", list(texts.TEXTS)


def _from_file(name: str, spec: JobSpec) -> tuple[str, list[Sample]]:
    """Plain text (a .txt file, or rows of {"text": ...}) is read here; chat rows go through load_sft."""
    from ..data import builtin
    from ..data.sft import load_sft

    if not builtin.is_builtin(name):
        path = Path(name).expanduser()
        if not path.is_file():
            known = ", ".join([texts.NAME, *builtin.names()])
            raise UserError(
                f"export.calibration_dataset: {name} is neither a file nor a built-in dataset ({known}); "
                "give a .jsonl/.json/.csv/.txt file or one of those names, or leave it empty to use dataset.sft"
            )
        plain = _plain_texts(path)
        if plain is not None:
            if not plain:
                raise UserError(f"export.calibration_dataset: {path} has no text")
            random.Random(spec.train.seed).shuffle(plain)
            return str(path), plain
    dataset = spec.dataset.model_copy(update={"sft": name, "format": "auto", "max_samples": None, "val_ratio": 0.0})
    try:
        data = load_sft(spec.model_copy(update={"dataset": dataset}))
    except UserError as exc:
        raise UserError(
            f"export.calibration_dataset: {name} needs plain text (.txt, or rows of {{\"text\": ...}}) or chat rows "
            "(messages, conversations, instruction+output):",
            *exc.lines,
        ) from None
    return data.source, list(data.train)


def _plain_texts(path: Path) -> list[Sample] | None:
    """Lines of a .txt file, or the "text" of every row of a .jsonl/.json file; None if it is not that."""
    raw = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".txt":
        return [line.strip() for line in raw.splitlines() if line.strip()]
    try:
        if path.suffix.lower() == ".jsonl":
            rows = [json.loads(line) for line in raw.splitlines() if line.strip()]
        elif path.suffix.lower() == ".json":
            rows = json.loads(raw)
        else:
            return None
    except ValueError:
        return None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) and isinstance(r.get("text"), str) for r in rows):
        return None
    return [r["text"] for r in rows if r["text"].strip()]


def render(sample: Sample, tokenizer: Any) -> str:
    """The whole sample as the model sees it in training and serving."""
    if isinstance(sample, str):
        return sample
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(sample, tokenize=False)
    return "\n".join(f"{m['role']}: {m['content']}" for m in sample)


def prompt(sample: Sample, tokenizer: Any) -> str:
    """What to generate from: the chat before its last assistant turn, or the first half of a text."""
    if isinstance(sample, str):
        words = sample.split()
        return " ".join(words[: max(1, len(words) // 2)])
    answers = [i for i, m in enumerate(sample) if m["role"] == "assistant"]
    turns = sample[: answers[-1]] if answers and answers[-1] > 0 else sample
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    return "\n".join(f"{m['role']}: {m['content']}" for m in turns) + "\nassistant:"


def shown_prompt(sample: Sample) -> str:
    """The prompt as a person would read it (the last user turn), for the report and the model card."""
    if isinstance(sample, str):
        words = sample.split()
        return " ".join(words[: max(1, len(words) // 2)])
    answers = [i for i, m in enumerate(sample) if m["role"] == "assistant"]
    turns = sample[: answers[-1]] if answers and answers[-1] > 0 else sample
    users = [m["content"] for m in turns if m["role"] == "user"]
    return users[-1] if users else turns[-1]["content"]


def encode(sample: Sample, tokenizer: Any, max_length: int) -> dict[str, list[int]]:
    """Token ids of a sample. A chat template already writes BOS, so only plain text gets special tokens."""
    enc = tokenizer(
        render(sample, tokenizer), truncation=True, max_length=max_length, add_special_tokens=isinstance(sample, str)
    )
    return {"input_ids": list(enc["input_ids"]), "attention_mask": list(enc["attention_mask"])}
