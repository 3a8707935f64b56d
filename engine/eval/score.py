"""Score a model folder on benchmarks: the records it leaves (answers, log-probabilities) and the metrics.

Metrics are computed from the saved records only (`metrics`), so report.json can be recomputed from
generations.jsonl by anyone. `behaviour` is the entry point for the export gate: the same scorer on
the job's held-out rows and its identity probe, one 0–100 figure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import scorers
from .image_items import content_text, image_refs
from .instructions import check
from .items import Benchmark, Item, Messages
from .runners import EvalRunner, open_runner

Emit = Callable[..., None]


@dataclass(frozen=True)
class Settings:
    max_new_tokens: int = 64
    batch_size: int = 8
    precision: str = "fp32"
    device: str | None = None
    trust_remote_code: bool = False
    max_pixels: int | None = None  # dataset.max_image_pixels: the bound on pictures shown to a vision model


def _last_user(prompt: Messages) -> str:
    return content_text(next((m["content"] for m in reversed(prompt) if m.get("role") == "user"), ""))


def _shown(item: Item) -> dict[str, Any]:
    refs = image_refs(item.prompt)
    return {"id": item.id, "prompt": _last_user(item.prompt), **({"images": refs} if refs else {})}


def records(runner: EvalRunner, bench: Benchmark, max_new_tokens: int,
            progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Run one benchmark through a loaded model; one record per item with what the metrics need."""
    items, prompts = bench.items, [it.prompt for it in bench.items]
    base = [_shown(it) for it in items]
    if bench.kind == "mcq":
        logps = runner.choice_logprobs(prompts, [list(it.choices) for it in items], progress)
        return [{**b, "answer": it.reference, "logprobs": {k: round(v, 6) for k, v in lp.items()}}
                for b, it, lp in zip(base, items, logps, strict=True)]
    if bench.kind == "preference":
        chosen = runner.answer_logprobs(prompts, [it.reference for it in items])
        rejected = runner.answer_logprobs(prompts, [it.rejected for it in items], progress)
        return [{**b, "chosen_logp": round(c[0], 6), "rejected_logp": round(r[0], 6)}
                for b, c, r in zip(base, chosen, rejected, strict=True)]
    outputs = runner.generate(prompts, max_new_tokens, progress)
    out = []
    for b, it, text in zip(base, items, outputs, strict=True):
        rec: dict[str, Any] = {**b, "output": text}
        if bench.kind in ("qa", "heldout"):
            rec["reference"] = it.reference
        elif bench.kind == "instructions":
            rec["rules"] = it.rules
        elif bench.kind == "identity":
            rec.update(names=it.names, lang=it.lang)
        out.append(rec)
    if bench.kind == "heldout":
        for rec, (logp, n) in zip(out, runner.answer_logprobs(prompts, [it.reference for it in items]), strict=True):
            rec.update(nll=round(-logp, 6), tokens=n)
    return out


def item_score(kind: str, rec: dict[str, Any]) -> float:
    """One record's score on its kind's main metric (0..1), from the record alone."""
    if kind == "mcq":
        return 1.0 if scorers.pick_choice(rec["logprobs"]) == rec["answer"] else 0.0
    if kind in ("qa", "heldout"):
        return scorers.rouge_l(rec["output"], rec["reference"])
    if kind == "instructions":
        return 1.0 if all(check(rec["output"], r) for r in rec["rules"]) else 0.0
    if kind == "identity":
        return scorers.mentions(rec["output"], rec["names"])
    return 1.0 if rec["chosen_logp"] > rec["rejected_logp"] else 0.0


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def metrics(kind: str, recs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every figure of one benchmark, recomputed from its records."""
    out: dict[str, Any] = {"n": len(recs)}
    if kind == "mcq":
        out["accuracy"] = scorers.mean([item_score(kind, r) for r in recs])
    elif kind in ("qa", "heldout"):
        out["exact_match"] = scorers.mean([scorers.exact_match(r["output"], r["reference"]) for r in recs])
        out["contains"] = scorers.mean([scorers.contains(r["output"], r["reference"]) for r in recs])
        out["rouge_l"] = scorers.mean([item_score(kind, r) for r in recs])
        if kind == "heldout":
            out["perplexity"] = scorers.perplexity(sum(r["nll"] for r in recs), sum(r["tokens"] for r in recs))
    elif kind == "instructions":
        out["prompt_accuracy"] = scorers.mean([item_score(kind, r) for r in recs])
        out["instruction_accuracy"] = scorers.mean([float(check(r["output"], rule)) for r in recs for rule in r["rules"]])
    elif kind == "identity":
        out["named"] = scorers.mean([item_score(kind, r) for r in recs])
        for lang in ("en", "zh"):
            part = [item_score(kind, r) for r in recs if r.get("lang") == lang]
            if part:
                out[f"named_{lang}"] = scorers.mean(part)
    else:
        chosen, rejected = [r["chosen_logp"] for r in recs], [r["rejected_logp"] for r in recs]
        out["preference_accuracy"] = scorers.preference_accuracy(chosen, rejected)
        out["reward_margin"] = scorers.reward_margin(chosen, rejected)
    return {k: _r(v) if isinstance(v, float) else v for k, v in out.items()}


def score_model(model_dir: Path, benchmarks: Sequence[Benchmark], settings: Settings,
                emit: Emit | None = None, label: str = "") -> dict[str, dict[str, Any]]:
    """Load `model_dir` once and run every benchmark; {name: {"metrics": ..., "records": [...]}}."""
    runner = open_runner(model_dir, precision=settings.precision, device=settings.device,
                         trust_remote_code=settings.trust_remote_code, batch_size=settings.batch_size,
                         max_pixels=settings.max_pixels)
    try:
        out = {}
        for bench in benchmarks:
            def progress(done: int, total: int, name: str = bench.name) -> None:
                if emit:
                    emit("progress", step=done, total=total, unit="items", message=f"{label} model, {name}")

            recs = records(runner, bench, settings.max_new_tokens, progress)
            out[bench.name] = {"kind": bench.kind, "metrics": metrics(bench.kind, recs), "records": recs}
        return out
    finally:
        runner.close()


def behaviour(model_dir: Path, rows: Sequence[Messages], probe: Sequence[Item], *, precision: str = "fp32",
              device: str | None = None, trust_remote_code: bool = False, max_new_tokens: int = 48,
              batch_size: int = 8, max_pixels: int | None = None) -> dict[str, Any]:
    """What the export gate calls: a 0–100 behaviour score of one model folder.

    rows: held-out supervised conversations (engine.data.sft.load_sft(spec).val; image rows as
    {"messages", "images"} dicts, shown to a vision-language model with their pictures, at most
    max_pixels each); probe: identity items (engine.eval.identity.probe(spec.dataset)). The score is
    the mean of the parts that have items: held-out answers' ROUGE-L against the reference (image
    rows: the mean of exact match, contains and ROUGE-L, as their answers are a word or two — "red",
    "circle" — where an answer is right or wrong rather than close), and the share of probe answers
    naming the identity. Compare two folders' scores (fine-tuned vs export) to gate on lost behaviour.
    """
    from .benchmarks import supervised_items

    benches = [b for b in (Benchmark("held-out", "qa", "rows", supervised_items(list(rows), "rows")),
                           Benchmark("identity", "identity", "probe", list(probe))) if b.items]
    settings = Settings(max_new_tokens, batch_size, precision, device, trust_remote_code, max_pixels)
    results = score_model(model_dir, benches, settings) if benches else {}
    parts = {name: round(100 * _part(r), 3) for name, r in results.items()}
    score = round(sum(parts.values()) / len(parts), 3) if parts else None
    return {"score": score, "parts": parts, "records": {n: r["records"] for n, r in results.items()}}


def _part(result: dict[str, Any]) -> float:
    """One behaviour part, 0..1, from a benchmark's metrics (see `behaviour`)."""
    m = result["metrics"]
    if result["kind"] == "identity":
        return m["named"] or 0.0
    if any("images" in r for r in result["records"]):
        return ((m["exact_match"] or 0.0) + (m["contains"] or 0.0) + (m["rouge_l"] or 0.0)) / 3
    return m["rouge_l"] or 0.0
