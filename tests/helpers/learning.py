"""Did training change what the model says? Scored on the training task itself, never just "it generates".

A model that generates is not evidence of training: any model does. The loss of the trained answers
given their prompts is: training on the toy task must make those answers clearly more likely.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers.jobs import COLORS


def color_conversations() -> list[list[dict[str, str]]]:
    """One conversation per color of the toy task (tests/helpers/jobs.py toy_sft_rows)."""
    return [[{"role": "user", "content": f"Say the color {c}."}, {"role": "assistant", "content": f"The color is {c}."}]
            for c in COLORS]


def answer_loss(model_dir: Path, conversations: list[list[dict[str, str]]] | None = None) -> float:
    """Mean cross-entropy of each assistant answer given its prompt (lower = the model says it more readily)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    return loaded_answer_loss(model, tok, conversations)


def loaded_answer_loss(model: Any, tok: Any, conversations: list[list[dict[str, str]]] | None = None) -> float:
    """answer_loss for a model already loaded (on any device, in any dtype or quantised format)."""
    import torch

    device = next(model.parameters()).device
    losses = []
    for messages in conversations or color_conversations():
        prompt = _ids(tok.apply_chat_template(messages[:-1], add_generation_prompt=True, return_dict=True))
        full = _ids(tok.apply_chat_template(messages, return_dict=True))
        assert full[: len(prompt)] == prompt, "the chat template renders the prompt differently inside the conversation"
        ids = torch.tensor([full], device=device)
        labels = ids.clone()
        labels[0, : len(prompt)] = -100
        with torch.no_grad():
            losses.append(float(model(input_ids=ids, labels=labels).loss))
    return sum(losses) / len(losses)


def greedy_answer(model: Any, tok: Any, question: str, max_new_tokens: int = 12) -> str:
    """The model's greedy reply to one user turn, special tokens removed."""
    import torch

    device = next(model.parameters()).device
    ids = tok.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True).to(device)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False)
    return tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def _ids(encoded: Any) -> list[int]:
    ids = encoded["input_ids"]
    return list(ids[0] if ids and isinstance(ids[0], list) else ids)
