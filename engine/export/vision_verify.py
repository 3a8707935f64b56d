"""The export check for a vision-language model: held-out image rows through the processor and the model.

Same figures as engine.export.verify for text (which calls this): perplexity, the next-token logits
kept for the cosine / top-1 comparison, one greedy answer. Perplexity counts the text tokens only:
the image placeholder tokens are inputs the processor expands, never something the model predicts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAX_NEW_TOKENS = 32


def load(folder: Path, dtype: Any, device: str, trust_remote_code: bool) -> Any:
    """Reload the folder as a user would: AutoModelForImageTextToText reads its quantization_config."""
    from ..util.processors import ensure_processor_support

    ensure_processor_support()
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(str(folder), dtype=dtype, trust_remote_code=trust_remote_code)
    return model.to(device) if device != "cpu" else model


def processor_for(folder: Path, trust_remote_code: bool) -> Any:
    from ..training.loading import load_processor

    return load_processor(folder, trust_remote_code=trust_remote_code)


def _parts(row: Any) -> tuple[list[dict[str, Any]], list[str]]:
    if isinstance(row, dict):
        return row["messages"], list(row.get("images", []))
    return row, []


def _inputs(processor: Any, messages: list[dict[str, Any]], images: list[str], device: str, **template: Any) -> Any:
    from .vision import open_images

    text = processor.apply_chat_template(messages, tokenize=False, **template)
    pictures = open_images(images)
    return processor(text=[text], images=[pictures] if pictures else None, return_tensors="pt").to(device)


def shown_prompt(row: Any) -> str:
    """The last user turn's text, with [image] where a picture was (for the report and the model card)."""
    messages, _ = _parts(row)
    users = [m["content"] for m in messages if m["role"] == "user"]
    content = users[-1] if users else messages[-1]["content"]
    if isinstance(content, str):
        return content
    return "".join("[image] " if p.get("type") == "image" else p.get("text", "") for p in content).strip()


def measure(model: Any, processor: Any, rows: list[Any], budget: int, device: str
            ) -> tuple[float, int, list[Any], str, str]:
    """(total negative log-likelihood, predicted text tokens, kept logits, greedy answer to row 0, its prompt)."""
    import torch

    model.eval()
    image_id = getattr(model.config, "image_token_id", None)
    if image_id is None:
        image_id = getattr(model.config, "image_token_index", None)
    nll, count, kept = 0.0, 0, []
    with torch.no_grad():
        for row in rows:
            messages, images = _parts(row)
            enc = _inputs(processor, messages, images, device)
            ids = enc["input_ids"][0]
            logits = model(**enc).logits[0, :-1].float()
            targets = ids[1:]
            scored = targets != image_id if image_id is not None else torch.ones_like(targets, dtype=torch.bool)
            logits, targets = logits[scored], targets[scored]
            if len(targets) == 0:
                continue
            nll += torch.nn.functional.cross_entropy(logits, targets, reduction="sum").item()
            count += len(targets)
            kept.append(logits.to("cpu", torch.float16))
            budget -= len(targets)
            if budget <= 1:
                break
        return nll, count, kept, generate(model, processor, rows[0], device), shown_prompt(rows[0])


def generate(model: Any, processor: Any, row: Any, device: str) -> str:
    import torch

    messages, images = _parts(row)
    answers = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    turns = messages[: answers[-1]] if answers and answers[-1] > 0 else messages
    enc = _inputs(processor, turns, images, device, add_generation_prompt=True)
    tok = processor.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, pad_token_id=pad)
    return tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()
