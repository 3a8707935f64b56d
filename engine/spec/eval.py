"""Evaluation after training: does the job's model now do what it was trained for?

Kept apart from export: the eval stage scores base, fine-tuned and exported models side by side with
the same prompts and greedy decoding, so an operator sees what the training changed and what the
quantisation kept.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from .base import Section

DEFAULT_BENCHMARKS = ["identity", "mcq-en", "mcq-zh", "qa-en", "qa-zh", "instructions"]


class EvalSpec(Section):
    enabled: bool = Field(
        True, description="Score the models after training (on by default for sft / dpo); false drops the eval stage."
    )
    benchmarks: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BENCHMARKS),
        description="What to score besides the held-out rows: shipped names (identity, mcq-en, mcq-zh, qa-en, qa-zh, "
        "instructions) or paths to a general_mcq CSV (id,question,A,B,C,D,answer) or general_qa JSONL (query,response).",
        max_length=64,
    )
    limit: int | None = Field(
        None, ge=1, le=1_000_000, description="Score at most this many items of each benchmark; empty = all."
    )
    dataset: str | None = Field(
        None,
        description="Held-out rows to score (a supervised or preference file); empty = the rows dataset.val_ratio "
        "holds back from the job's own data.",
        max_length=1024,
    )
    max_new_tokens: int = Field(64, ge=1, le=4096, description="Longest generated answer, in tokens (greedy decoding).")
    batch_size: int = Field(8, ge=1, le=1024, description="Prompts generated or scored together.")
    evalscope: list[str] = Field(
        default_factory=list,
        description="EvalScope benchmarks by name (mmlu, ceval, gsm8k, ...), run through the OpenAI-compatible "
        "server; needs the evalscope extra and its data from the hub.",
        max_length=64,
    )

    @field_validator("benchmarks", "evalscope")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item.strip() or len(item) > 1024:
                raise ValueError("each entry is a benchmark name or a file path (1–1024 characters)")
        if len(set(value)) != len(value):
            raise ValueError("each benchmark may appear once")
        return value
