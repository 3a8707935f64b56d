"""Check an export before it ships: the same held-out rows through the source and the exported model.

Figures: perplexity of each on the held-out rows and their ratio (the gate), the mean cosine
similarity of their next-token logits, how often their top token agrees, and one greedy answer
each. The source is measured first and only its logits are kept (as float16, capped in tokens),
so the two models are never in memory together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from .calibration import Sample, encode, prompt, shown_prompt

MAX_VERIFY_TOKENS = 1024
MAX_NEW_TOKENS = 32


@dataclass
class Measurement:
    ppl: float
    tokens: int
    logits: list[Any]  # one [T, vocab] float16 CPU tensor per row
    generation: str
    prompt: str


def measure(model: Any, tokenizer: Any, rows: list[Sample], max_length: int, device: str) -> Measurement:
    """Perplexity over every predicted token of `rows`, their logits, and a greedy answer to the first."""
    import torch

    model.eval()
    nll, count, kept, budget = 0.0, 0, [], MAX_VERIFY_TOKENS
    with torch.no_grad():
        for row in rows:
            ids = encode(row, tokenizer, max_length)["input_ids"][: max(2, budget)]
            if len(ids) < 2:
                continue
            budget -= len(ids)
            input_ids = torch.tensor([ids], device=device)
            logits = model(input_ids=input_ids).logits[0, :-1].float()
            targets = input_ids[0, 1:]
            nll += torch.nn.functional.cross_entropy(logits, targets, reduction="sum").item()
            count += len(targets)
            kept.append(logits.to("cpu", torch.float16))
            if budget <= 1:
                break
    if count == 0:
        raise UserError("export: the held-out rows are empty after tokenisation; give longer calibration rows")
    ppl = math.exp(nll / count) if nll / count < 700 else math.inf
    return Measurement(ppl, count, kept, generate(model, tokenizer, rows[0], device), shown_prompt(rows[0]))


def generate(model: Any, tokenizer: Any, sample: Sample, device: str) -> str:
    import torch

    text = prompt(sample, tokenizer)
    enc = tokenizer(text, return_tensors="pt", add_special_tokens=isinstance(sample, str)).to(device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, pad_token_id=pad)
    return tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True).strip()


def compare(source: Measurement, export: Measurement) -> dict[str, Any]:
    """The figures that go into report.json."""
    import torch

    cos, agree, n = 0.0, 0, 0
    for a, b in zip(source.logits, export.logits, strict=True):
        a32, b32 = a.float(), b.float()
        cos += torch.nn.functional.cosine_similarity(a32, b32, dim=-1).nan_to_num(0.0).sum().item()
        agree += (a32.argmax(-1) == b32.argmax(-1)).sum().item()
        n += a.shape[0]
    ratio = export.ppl / source.ppl if math.isfinite(export.ppl) and source.ppl > 0 else math.inf
    return {
        "ppl_source": _finite(source.ppl),
        "ppl_export": _finite(export.ppl),
        "ppl_ratio": _finite(ratio),
        "logit_cosine": round(cos / n, 6) if n else None,
        "top1_agreement": round(agree / n, 6) if n else None,
        "held_out_tokens": source.tokens,
        "prompt": source.prompt,
        "generation_source": source.generation,
        "generation_export": export.generation,
    }


def _finite(value: float) -> float | None:
    """JSON has no infinity: a ratio that overflowed is recorded as null and fails the gate."""
    return round(value, 6) if math.isfinite(value) else None


class Checker:
    """Measures the source once, then any number of exported folders against it on the same rows."""

    def __init__(self, source: Path, tokenizer: Any, rows: list[Sample], max_length: int, dtype: Any,
                 device: str, trust_remote_code: bool) -> None:
        self.source_dir, self.tokenizer, self.rows, self.max_length = source, tokenizer, rows, max_length
        self.dtype, self.device, self.trust_remote_code = dtype, device, trust_remote_code
        self._source: Measurement | None = None
        from ..training.loading import is_vision_dir

        self.vision = is_vision_dir(source)  # image rows: engine.export.vision_verify measures them

    def _measure(self, folder: Path) -> Measurement:
        import gc

        if self.vision:
            return self._measure_vision(folder)
        model = load_for_check(folder, self.dtype, self.device, self.trust_remote_code)
        try:
            return measure(model, self.tokenizer, self.rows, self.max_length, self.device)
        finally:
            del model
            gc.collect()

    def _measure_vision(self, folder: Path) -> Measurement:
        import gc

        from . import vision_verify

        processor = vision_verify.processor_for(self.source_dir, self.trust_remote_code)
        model = vision_verify.load(folder, self.dtype, self.device, self.trust_remote_code)
        try:
            nll, count, kept, answer, shown = vision_verify.measure(model, processor, self.rows, MAX_VERIFY_TOKENS,
                                                                   self.device)
        finally:
            del model
            gc.collect()
        if count == 0:
            raise UserError("export: the held-out image rows have no text tokens; give rows with questions and answers")
        ppl = math.exp(nll / count) if nll / count < 700 else math.inf
        return Measurement(ppl, count, kept, answer, shown)

    def check(self, folder: Path) -> dict[str, Any]:
        if self._source is None:
            self._source = self._measure(self.source_dir)
        return compare(self._source, self._measure(folder))


def clearly_better(a: dict[str, Any], b: dict[str, Any], margin: float = 0.02) -> bool:
    """Is export `a` closer to the source than `b` by more than `margin` of perplexity (not just noise)?
    An overflowed perplexity (None) is never better and always beaten."""
    if a["ppl_export"] is None:
        return False
    return b["ppl_export"] is None or a["ppl_export"] < b["ppl_export"] * (1 - margin)


def load_for_check(folder: Path, dtype: Any, device: str, trust_remote_code: bool) -> Any:
    """Reload a folder exactly as a user would: transformers reads its quantization_config."""
    import json

    from transformers import AutoModelForCausalLM

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    bnb = config.get("quantization_config", {}).get("quant_method") == "bitsandbytes"
    kwargs: dict[str, Any] = {"device_map": {"": 0}} if bnb and device == "cuda" else {}
    model = AutoModelForCausalLM.from_pretrained(
        str(folder), dtype=dtype, trust_remote_code=trust_remote_code, **kwargs
    )
    if device != "cpu" and not bnb:
        model = model.to(device)
    if bnb and device == "cpu":
        from .bnb import cpu_safe

        cpu_safe(model)
    return model


def weight_bytes(folder: Path) -> int:
    """Bytes of the weight files on disk (what the quantisation shrinks)."""
    files = [*folder.glob("*.safetensors"), *folder.glob("pytorch_model*.bin")]
    return sum(f.stat().st_size for f in files)
