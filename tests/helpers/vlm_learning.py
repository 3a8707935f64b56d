"""Solid colour squares with "what colour is it?" rows, and a forced-choice score that shows whether pixels matter.

The learning test for vision-language training: a model that answers held-out squares right must be
reading the image, and the same model shown a grey square (or no picture) must fall to chance.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from tests.helpers.jobs import write_jsonl

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 50, 220)}
QUESTION = "What colour is the square?"


def write_squares(folder: Path, n: int, prefix: str, seed: int) -> tuple[Path, list[dict[str, Any]]]:
    """n rows (colours in turn, each shade jittered so no two pictures are alike) and their PNGs under folder."""
    from PIL import Image

    rng = random.Random(seed)
    names = list(COLOURS)
    rows = []
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        name = names[i % len(names)]
        shade = tuple(max(0, min(255, c + rng.randint(-25, 25))) for c in COLOURS[name])
        path = folder / "img" / f"{prefix}-{i:04d}.png"
        Image.new("RGB", (64, 64), shade).save(path)
        rows.append({"messages": [{"role": "user", "content": "<image>" + QUESTION},
                                  {"role": "assistant", "content": name}], "images": [f"img/{path.name}"]})
    return write_jsonl(folder / f"{prefix}.jsonl", rows), rows


def forced_choice(model_dir: Path, rows: list[dict[str, Any]], folder: Path, grey: bool = False) -> float:
    """Share of rows where the right colour is the most likely answer (grey: every picture replaced by grey)."""
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText

    from engine.training.loading import load_processor

    processor = load_processor(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    prompt = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    right = 0
    for row in rows:
        image = Image.new("RGB", (64, 64), (128, 128, 128)) if grey else Image.open(folder / row["images"][0])
        losses = {}
        for name in COLOURS:
            answer = [{"role": "assistant", "content": [{"type": "text", "text": name}]}]
            head = processor.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
            text = processor.apply_chat_template(prompt + answer, tokenize=False)
            enc = processor(text=[text], images=[[image]], return_tensors="pt")
            start = processor(text=[head], images=[[image]], return_tensors="pt")["input_ids"].shape[1]
            labels = enc["input_ids"].clone()
            labels[:, :start] = -100
            with torch.no_grad():
                losses[name] = float(model(**enc, labels=labels).loss)
        right += min(losses, key=losses.get) == row["messages"][1]["content"]
    return right / len(rows)
