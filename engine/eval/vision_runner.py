"""The eval runner for a vision-language model folder: the text Runner's interface, prompts that may carry pictures.

Loaded as a user loads it (AutoProcessor + AutoModelForImageTextToText). Each prompt is encoded alone
by the processor — its chat template with bare image placeholders, its pictures opened with
engine.data.images.open_image and bounded by dataset.max_image_pixels, which also bounds the
processor's own resize — and rows are then left-padded into batches by hand: the per-token inputs
(ids, mask, mm_token_type_ids) are padded, the picture inputs (pixel_values, image_grid_thw, …)
concatenated in row order, as the Qwen-VL, InternVL and LLaVA forwards take them (checked: a batch scores
as its rows one at a time). Batches hold rows with the same number of pictures, encoded a batch at a
time; a batch that still cannot be stacked (processors that pad pictures per row) runs row by row. An
answer's tokens are appended to its encoded prompt, so exactly those are counted. Text-only prompts (the identity probe, the shipped benchmarks) go through the same
processor without pictures. Greedy decoding and the scores are those of engine.eval.runner.
"""

from __future__ import annotations

import gc
import inspect
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .image_items import split
from .items import Messages
from .runner import first_token_ids, greedy, load_for_eval

Progress = Callable[[int, int], None]
Row = dict[str, Any]  # one encoded prompt: tensors with a batch dimension of 1


class VisionRunner:
    """A loaded vision-language model and its processor; `close()` gives the memory back."""

    def __init__(self, model_dir: Path, *, precision: str = "fp32", device: str | None = None,
                 trust_remote_code: bool = False, batch_size: int = 8, max_pixels: int | None = None) -> None:
        import torch
        from transformers import AutoModelForImageTextToText

        from ..training.loading import load_processor

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size, self.max_pixels = batch_size, max_pixels
        self.processor = load_processor(model_dir, trust_remote_code=trust_remote_code, max_pixels=max_pixels)
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"
        self.templated = bool(getattr(self.processor, "chat_template", None))
        model = self.model = load_for_eval(AutoModelForImageTextToText, model_dir, precision, self.device,
                                           trust_remote_code)
        # Qwen-VL's 3-D rotary positions come from the ids and the mask inside the model; the others take ours.
        self.own_positions = hasattr(getattr(model, "model", None), "get_rope_index")
        self.keeps_logits = "logits_to_keep" in inspect.signature(model.forward).parameters

    def close(self) -> None:
        import torch

        del self.model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # -- prompts -------------------------------------------------------------------------------------
    def render(self, messages: Messages, answer: str | None = None) -> str:
        """The prompt text up to where the assistant answers (or through `answer`), bare image placeholders."""
        parts, _ = split(messages)
        if answer is not None:
            parts = [*parts, {"role": "assistant", "content": [{"type": "text", "text": answer}]}]
        if self.templated:
            return self.processor.apply_chat_template(parts, add_generation_prompt=answer is None, tokenize=False)
        image = getattr(self.processor, "image_token", "") or ""
        turns = [f"{m['role'].capitalize()}: " + "".join(p.get("text", image) for p in m["content"]) for m in parts]
        return "\n".join(turns) + ("" if answer is not None else "\nAssistant:")

    def _answer_text(self, messages: Messages, answer: str) -> str:
        prompt = self.render(messages)
        if self.templated:
            full = self.render(messages, answer)
            if full.startswith(prompt):
                return full[len(prompt):].rstrip("\n")
        return " " + answer + (self.tokenizer.eos_token or "")

    def _encode(self, messages: Messages, tail: str = "") -> tuple[Row, int]:
        """The processor's inputs for one prompt (pictures opened and bounded), plus `tail`'s tokens; tail length."""
        import torch

        from ..data.images import open_image

        _, refs = split(messages)
        pictures = [open_image(ref, self.max_pixels) for ref in refs]
        enc = self.processor(text=[self.render(messages)], images=[pictures] if pictures else None,
                             return_tensors="pt", add_special_tokens=not self.templated)
        row = {k: v for k, v in enc.items() if hasattr(v, "shape")}
        extra = self.tokenizer(tail, add_special_tokens=False)["input_ids"] if tail else []
        if extra:
            width = row["input_ids"].shape[1]
            for key in [k for k, v in row.items() if tuple(v.shape) == (1, width)]:
                fill = torch.tensor([extra]) if key == "input_ids" else torch.full(
                    (1, len(extra)), 1 if key == "attention_mask" else 0, dtype=row[key].dtype)
                row[key] = torch.cat([row[key], fill], dim=1)
        return row, len(extra)

    def _collate(self, rows: Sequence[Row]) -> Row:
        """Left-pad the per-token inputs, concatenate the picture inputs in row order; on the model's device."""
        import torch

        width = max(r["input_ids"].shape[1] for r in rows)
        pad = self.tokenizer.pad_token_id
        out: Row = {}
        for key in dict.fromkeys(k for r in rows for k in r):
            have = [r[key] for r in rows if key in r]
            if len(have) == len(rows) and all(tuple(r[key].shape) == (1, r["input_ids"].shape[1]) for r in rows):
                fill = pad if key == "input_ids" else 0
                out[key] = torch.cat([torch.cat([v.new_full((1, width - v.shape[1]), fill), v], dim=1) for v in have])
            else:
                out[key] = torch.cat(have, dim=0)
        dtype = self.model.dtype
        return {k: v.to(self.device, dtype=dtype) if v.is_floating_point() else v.to(self.device)
                for k, v in out.items()}

    def _batches(self, prompts: Sequence[Messages], tails: Sequence[str] | None = None
                 ) -> Iterator[tuple[list[int], Row, list[int]]]:
        """(prompt indices, collated batch, each row's tail length): the same picture count in a batch, longest
        first, row by row where the pictures cannot be stacked. Pictures are opened and encoded a batch at a
        time, so a held-out set of large photos never sits in memory whole; the order only keeps padding small,
        so the text's length (before the processor expands the pictures) is enough to sort by."""
        from .image_items import image_refs

        tails = list(tails or [""] * len(prompts))
        counts = [len(image_refs(p)) for p in prompts]
        sizes = [len(self.render(p)) + len(t) for p, t in zip(prompts, tails, strict=True)]
        for count in sorted(set(counts)):
            group = sorted((i for i in range(len(prompts)) if counts[i] == count), key=lambda i: -sizes[i])
            for start in range(0, len(group), self.batch_size):
                chunk = group[start:start + self.batch_size]
                rows = [self._encode(prompts[i], tails[i]) for i in chunk]
                try:
                    batch = self._collate([row for row, _ in rows])
                except RuntimeError:  # pictures padded per row (Idefics3, Mllama): one row a batch
                    for i, (row, n) in zip(chunk, rows, strict=True):
                        yield [i], self._collate([row]), [n]
                    continue
                yield chunk, batch, [n for _, n in rows]

    def _forward(self, batch: Row, keep: int = 0) -> Any:
        kwargs: dict[str, Any] = {"logits_to_keep": keep} if self.keeps_logits and keep else {}
        if not self.own_positions:
            kwargs["position_ids"] = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        return self.model(**batch, **kwargs).logits.float()

    # -- what the scorers need -------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Messages], max_new_tokens: int, progress: Progress | None = None) -> list[str]:
        """Greedy answers, in the order of `prompts`."""
        out: list[str] = [""] * len(prompts)
        done = 0
        for chunk, batch, _ in self._batches(prompts):
            for i, answer in zip(chunk, greedy(self.model, self.tokenizer, batch, max_new_tokens), strict=True):
                out[i] = answer
            done += len(chunk)
            if progress:
                progress(done, len(prompts))
        return out

    def choice_logprobs(self, prompts: Sequence[Messages], letters: Sequence[Sequence[str]],
                        progress: Progress | None = None) -> list[dict[str, float]]:
        """Log-probability of each choice letter as the first token of the answer ("A" or " A", the likelier)."""
        import torch

        out: list[dict[str, float]] = [{} for _ in prompts]
        done = 0
        for chunk, batch, _ in self._batches(prompts):
            with torch.no_grad():
                logp = torch.log_softmax(self._forward(batch, keep=1)[:, -1], dim=-1)
            for row, i in enumerate(chunk):
                out[i] = {k: max(float(logp[row, t]) for t in self._letter_ids(k)) for k in letters[i]}
            done += len(chunk)
            if progress:
                progress(done, len(prompts))
        return out

    def _letter_ids(self, letter: str) -> set[int]:
        cache = self.__dict__.setdefault("_letters", {})
        if letter not in cache:
            cache[letter] = first_token_ids(self.tokenizer, letter)
        return cache[letter]

    def answer_logprobs(self, prompts: Sequence[Messages], answers: Sequence[str],
                        progress: Progress | None = None) -> list[tuple[float, int]]:
        """Sum of log-probabilities of each answer's tokens given its prompt (and pictures), and how many tokens."""
        import torch

        tails = [self._answer_text(p, a) for p, a in zip(prompts, answers, strict=True)]
        out: list[tuple[float, int]] = [(0.0, 0)] * len(prompts)
        done = 0
        for chunk, batch, lengths in self._batches(prompts, tails):
            keep = max(lengths) + 1  # left-padded: every answer lies in the last columns
            with torch.no_grad():
                logits = self._forward(batch, keep=keep)[:, -keep:]
                logp = torch.log_softmax(logits[:, :-1], dim=-1)
                width = batch["input_ids"].shape[1]
                picked = logp.gather(-1, batch["input_ids"][:, width - keep + 1:, None])[..., 0]
            for row, (i, n) in enumerate(zip(chunk, lengths, strict=True)):
                total = float(picked[row, picked.shape[1] - n:].sum()) if n else 0.0
                out[i] = (total if math.isfinite(total) else -1e9, n)
            done += len(chunk)
            if progress:
                progress(done, len(prompts))
        return out
