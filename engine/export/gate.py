"""The export gate: a quantised model ships only if it still does what the job trained it for.

Perplexity on a few rows does not see a lost behaviour (measured: the demo's AWQ export kept 1.14×
the perplexity while it stopped naming its trained identity), so each candidate is also scored with
the eval stage's own scorer (engine.eval.score.behaviour) on the job's held-out conversations and,
when the job taught an identity, the identity probe — and compared with the unquantised model.
A vision-language export is scored the same way on held-out image rows, each shown with its
pictures (engine.eval.runners picks the runner that can).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..spec import JobSpec

BEHAVIOUR_TOKENS = 48  # enough for "I am Hammer, an assistant made by …"; keeps each candidate's check short


def taught_identity(spec: JobSpec) -> bool:
    """Whether the job's data is a built-in identity set (its answers name dataset.model_name)."""
    from ..data import builtin

    names = [n for n in (spec.dataset.sft, spec.dataset.preference) if n]
    return any(builtin.is_builtin(n) and builtin.get(n).placeholders for n in names)


@dataclass
class Behaviour:
    """Scores model folders on the same prompts, greedy, and remembers the unquantised model's score."""

    spec: JobSpec
    source: Path
    rows: list[Any]  # held-out conversations ending in the reference answer
    probe: list[Any]
    precision: str
    device: str
    reference: dict[str, Any] | None = field(default=None)
    skipped: str | None = None  # why the behaviour check does not run (logged by the stage)

    @classmethod
    def for_job(cls, spec: JobSpec, source: Path, held_out: list[Any], precision: str, device: str) -> Behaviour:
        from ..eval.identity import probe

        rows = [s for s in held_out if _ends_in_answer(s)]
        return cls(spec, source, rows, probe(spec.dataset) if taught_identity(spec) else [], precision, device)

    @property
    def active(self) -> bool:
        return bool(self.rows or self.probe)

    def score(self, folder: Path) -> dict[str, Any]:
        from ..eval.score import behaviour

        result = behaviour(folder, self.rows, self.probe, precision=self.precision, device=self.device,
                           trust_remote_code=self.spec.model.trust_remote_code, max_new_tokens=BEHAVIOUR_TOKENS,
                           max_pixels=self.spec.dataset.max_image_pixels)
        return {"score": result["score"], "parts": result["parts"],
                "answers": {name: [r.get("output", "") for r in recs][:6] for name, recs in result["records"].items()}}

    def source_score(self) -> dict[str, Any]:
        if self.reference is None:
            self.reference = self.score(self.source)
        return self.reference


def _ends_in_answer(sample: Any) -> bool:
    """A held-out conversation (or image row: {"messages", "images"}) whose last turn is the reference answer."""
    messages = sample.get("messages") if isinstance(sample, dict) else sample
    return isinstance(messages, list) and bool(messages) and messages[-1].get("role") == "assistant"


def judge(spec: JobSpec, figures: dict[str, Any], behaviour: dict[str, Any] | None,
          reference: dict[str, Any] | None) -> list[str]:
    """Why this candidate may not ship (empty: it may), each naming the field that sets the limit."""
    e = spec.export
    reasons = []
    ratio = figures.get("ppl_ratio")
    if ratio is None or ratio > e.max_ppl_ratio:
        shown = "infinite" if ratio is None else f"{ratio:.3f}"
        reasons.append(f"export.max_ppl_ratio: perplexity {shown}× the source's, above {e.max_ppl_ratio}×")
    if behaviour is not None and reference is not None and reference.get("score") is not None:
        drop = round(reference["score"] - (behaviour.get("score") or 0.0), 3)
        if drop > e.max_score_drop:
            parts = ", ".join(f"{k} {reference['parts'].get(k)} → {v}" for k, v in behaviour["parts"].items())
            reasons.append(f"export.max_score_drop: behaviour score {behaviour.get('score')} vs the source's "
                           f"{reference['score']} ({parts}), {drop} points lost, more than {e.max_score_drop}")
    return reasons
