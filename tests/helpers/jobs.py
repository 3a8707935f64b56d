"""Write toy datasets and job files the way an operator would, for tests at every level."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import yaml

COLORS = ["red", "green", "blue", "yellow"]


def toy_sft_rows(n: int = 64, seed: int = 0) -> list[dict[str, Any]]:
    """A learnable task: repeat the color asked for. Loss falls within a few dozen steps."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        color = rng.choice(COLORS)
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"Say the color {color}."},
                    {"role": "assistant", "content": f"The color is {color}."},
                ]
            }
        )
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def deep_update(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value
    return base


def tiny_job(model_dir: Path, data: Path, name: str = "tiny", **overrides: Any) -> dict[str, Any]:
    """A fast download → sft (LoRA) → merge job on the tiny model."""
    job: dict[str, Any] = {
        "name": name,
        "task": "sft",
        "stages": ["download", "sft", "merge"],
        "model": {"id": str(model_dir), "hub": "local"},
        "dataset": {"sft": str(data)},
        "train": {
            "max_steps": 8,
            "batch_size": 4,
            "grad_accum": 1,
            "learning_rate": 0.003,
            "max_length": 64,
            "save_steps": 4,
        },
    }
    return deep_update(job, overrides)


def write_job(path: Path, job: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(job, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
