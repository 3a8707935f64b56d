"""One model, loaded once, asked many prompts in batches: greedy answers, choice and answer log-probabilities.

Batches are left-padded (so every row's next token sits in the last column) and sorted by length (so
padding stays small); position ids follow the attention mask, so a padded row scores as it would alone.
Multiple-choice scoring computes the tokens every prompt shares (the chat template's system turn, a
benchmark's instruction) once and reuses their cache, and only the last position goes through the LM head:
on a CPU the forward pass over the prompt is the whole cost, so work not repeated is the speed there.
The same code runs on CUDA and on a CPU; only the device and dtype differ.
"""

from __future__ import annotations

import copy
import gc
import json
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .items import Messages

Progress = Callable[[int, int], None]
MIN_SHARED = 8  # fewer shared tokens than this are not worth a cache copy per batch


def shared_prefix(rows: Sequence[list[int]]) -> int:
    """How many leading tokens all rows have in common, leaving every row at least one token of its own."""
    if len(rows) < 2:
        return 0
    first, n = rows[0], min(len(r) for r in rows) - 1
    for k in range(max(n, 0)):
        if any(r[k] != first[k] for r in rows):
            return k
    return max(n, 0)


def _batches(order: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(order), size):
        yield order[start : start + size]


def load_for_eval(auto_class: Any, model_dir: Path, precision: str, device: str, trust_remote_code: bool) -> Any:
    """The folder's model in eval mode on `device`; a bitsandbytes 4-bit export loads as it was saved
    (on one GPU, or on a CPU with the fix ../shared/STACK.md describes)."""
    from ..training.loading import torch_dtype

    config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    bnb = (config.get("quantization_config") or {}).get("quant_method") == "bitsandbytes"
    kwargs: dict[str, Any] = {"dtype": torch_dtype(precision), "trust_remote_code": trust_remote_code}
    if bnb and device == "cuda":
        kwargs["device_map"] = {"": 0}
    model = auto_class.from_pretrained(str(model_dir), **kwargs)
    if bnb and device == "cpu":
        from ..training.quant import fix_cpu_4bit

        fix_cpu_4bit(model)
    elif not bnb:
        model = model.to(device)
    return model.eval()


def first_token_ids(tokenizer: Any, letter: str) -> set[int]:
    """The ids an answer can start a choice letter with: "A" and " A" tokenize differently."""
    ids = set()
    for text in (letter, " " + letter):
        tokens = tokenizer(text, add_special_tokens=False)["input_ids"]
        if tokens:
            ids.add(tokens[0])
    return ids


def greedy(model: Any, tokenizer: Any, batch: dict[str, Any], max_new_tokens: int) -> list[str]:
    """One left-padded batch's greedy answers; the tokenizer's end-of-sequence stops them when the model's
    generation config names none."""
    import torch

    config = getattr(model, "generation_config", None)
    eos = tokenizer.eos_token_id
    stop = {"eos_token_id": eos} if eos is not None and (config is None or config.eos_token_id is None) else {}
    with torch.no_grad():
        ids = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                             pad_token_id=tokenizer.pad_token_id, **stop)
    width = batch["input_ids"].shape[1]
    return [tokenizer.decode(row[width:], skip_special_tokens=True).strip() for row in ids]


class Runner:
    """A loaded model and tokenizer; `close()` gives the memory back before the next model loads."""

    def __init__(self, model_dir: Path, *, precision: str = "fp32", device: str | None = None,
                 trust_remote_code: bool = False, batch_size: int = 8) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = batch_size
        tok = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=trust_remote_code)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        tok.padding_side = "left"
        self.tokenizer = tok
        self.templated = bool(getattr(tok, "chat_template", None))
        self.model = load_for_eval(AutoModelForCausalLM, model_dir, precision, self.device, trust_remote_code)

    def close(self) -> None:
        import torch

        del self.model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # -- prompts -------------------------------------------------------------------------------------
    def render(self, messages: Messages) -> str:
        """The prompt text up to where the assistant starts answering (the model's own chat template)."""
        if self.templated:
            return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        turns = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
        return "\n".join(turns) + "\nAssistant:"

    def _answer_text(self, messages: Messages, answer: str) -> str:
        """What follows the prompt when the assistant says `answer` (with the template's end-of-turn marks)."""
        prompt = self.render(messages)
        if self.templated:
            full = self.tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": answer}],
                                                      tokenize=False)
            if full.startswith(prompt):
                return full[len(prompt):].rstrip("\n")
        return " " + answer + (self.tokenizer.eos_token or "")

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=not self.templated)["input_ids"]

    def _pad(self, rows: Sequence[list[int]]) -> dict[str, Any]:
        import torch

        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=self.device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device)
        return {"input_ids": ids, "attention_mask": mask}

    def _forward(self, batch: dict[str, Any], keep: int = 0, prefix: Any = None) -> Any:
        """Logits of the last `keep` positions (all when 0), after an optional cached shared prefix."""
        import torch

        mask = batch["attention_mask"]
        kwargs: dict[str, Any] = {"logits_to_keep": keep}
        if prefix is not None:
            cache, width = copy.deepcopy(prefix[0]), prefix[1]
            cache.batch_repeat_interleave(mask.shape[0])
            mask = torch.cat([mask.new_ones(mask.shape[0], width), mask], dim=1)
            kwargs.update(past_key_values=cache, use_cache=True)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)[:, -batch["input_ids"].shape[1]:]
        return self.model(input_ids=batch["input_ids"], attention_mask=mask, position_ids=position_ids,
                          **kwargs).logits.float()

    def _prefix_cache(self, ids: list[int]) -> tuple[Any, int]:
        """The model's cache after the shared tokens, computed once and copied per batch."""
        import torch

        with torch.no_grad():
            out = self.model(input_ids=torch.tensor([ids], device=self.device), use_cache=True, logits_to_keep=1)
        return out.past_key_values, len(ids)

    # -- what the scorers need -------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Messages], max_new_tokens: int, progress: Progress | None = None) -> list[str]:
        """Greedy answers, in the order of `prompts`."""
        encoded = [self._encode(self.render(p)) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
        out: list[str] = [""] * len(prompts)
        for done, chunk in enumerate(_batches(order, self.batch_size), start=1):
            answers = greedy(self.model, self.tokenizer, self._pad([encoded[i] for i in chunk]), max_new_tokens)
            for i, answer in zip(chunk, answers, strict=True):
                out[i] = answer
            if progress:
                progress(min(done * self.batch_size, len(prompts)), len(prompts))
        return out

    def choice_logprobs(self, prompts: Sequence[Messages], letters: Sequence[Sequence[str]],
                        progress: Progress | None = None) -> list[dict[str, float]]:
        """Log-probability of each choice letter as the first token of the answer ("A" or " A", the likelier)."""
        import torch

        encoded = [self._encode(self.render(p)) for p in prompts]
        shared = shared_prefix(encoded)
        prefix = self._prefix_cache(encoded[0][:shared]) if shared >= MIN_SHARED else None
        rows = [e[shared:] for e in encoded] if prefix else encoded
        order = sorted(range(len(prompts)), key=lambda i: -len(rows[i]))
        out: list[dict[str, float]] = [{} for _ in prompts]
        for done, chunk in enumerate(_batches(order, self.batch_size), start=1):
            with torch.no_grad():
                logits = self._forward(self._pad([rows[i] for i in chunk]), keep=1, prefix=prefix)
                logp = torch.log_softmax(logits[:, -1], dim=-1)
            for row, i in enumerate(chunk):
                out[i] = {k: max(float(logp[row, t]) for t in self._letter_ids(k)) for k in letters[i]}
            if progress:
                progress(min(done * self.batch_size, len(prompts)), len(prompts))
        return out

    def _letter_ids(self, letter: str) -> set[int]:
        cache = self.__dict__.setdefault("_letters", {})
        if letter not in cache:
            cache[letter] = first_token_ids(self.tokenizer, letter)
        return cache[letter]

    def answer_logprobs(self, prompts: Sequence[Messages], answers: Sequence[str],
                        progress: Progress | None = None) -> list[tuple[float, int]]:
        """Sum of log-probabilities of each answer's tokens given its prompt, and how many tokens that is."""
        import torch

        rows: list[tuple[list[int], int]] = []
        for messages, answer in zip(prompts, answers, strict=True):
            head = self._encode(self.render(messages))
            tail = self.tokenizer(self._answer_text(messages, answer), add_special_tokens=False)["input_ids"]
            rows.append((head + tail, len(tail)))
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i][0]))
        out: list[tuple[float, int]] = [(0.0, 0)] * len(rows)
        for done, chunk in enumerate(_batches(order, self.batch_size), start=1):
            batch = self._pad([rows[i][0] for i in chunk])
            keep = max(rows[i][1] for i in chunk) + 1  # left-padded: every answer lies in the last columns
            with torch.no_grad():
                logp = torch.log_softmax(self._forward(batch, keep=keep)[:, :-1], dim=-1)
                width = batch["input_ids"].shape[1]
                picked = logp.gather(-1, batch["input_ids"][:, width - keep + 1:, None])[..., 0]
            for row, i in enumerate(chunk):
                n = rows[i][1]
                total = float(picked[row, picked.shape[1] - n:].sum()) if n else 0.0
                out[i] = (total if math.isfinite(total) else -1e9, n)
            if progress:
                progress(min(done * self.batch_size, len(rows)), len(rows))
        return out
