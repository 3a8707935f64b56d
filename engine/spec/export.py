"""Quantised export of the finished model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section
from .methods import EXPORT_CHOICES, EXPORT_METHODS


class ExportSpec(Section):
    method: Literal[EXPORT_CHOICES] = Field(  # type: ignore[valid-type]
        "awq",
        description="How to quantise: "
        + ", ".join(f"{m.name} ({m.description})" for m in EXPORT_METHODS.values())
        + ", or none to skip export.",
    )
    bits: int | None = Field(
        None, ge=2, le=8, description="Weight bits; empty = the method's own (awq and bnb-4bit write 4, w8a16 writes 8)."
    )
    group_size: int | Literal["auto"] = Field(
        "auto", description="Weights per quantisation group: auto picks the largest of 128/64/32 that fits."
    )
    symmetric: bool = Field(True, description="Symmetric quantisation (reloads everywhere); off = asymmetric.")
    calibration_dataset: str | None = Field(
        None,
        description="Calibration data: empty = the job's own SFT data (or, without any, the built-in generic-text), "
        "a .jsonl/.json/.csv/.txt file, or a built-in dataset name.",
        max_length=1024,
    )
    calibration_samples: int = Field(64, ge=1, le=100_000, description="Rows used to calibrate.")
    calibration_max_length: int = Field(512, ge=16, le=1_048_576, description="Tokens per calibration row.")
    max_ppl_ratio: float = Field(
        1.2,
        ge=1.0,
        le=100.0,
        description="Fail the export if its perplexity on held-out rows exceeds this × the unquantised model's.",
    )
    max_score_drop: float = Field(
        5.0,
        ge=0.0,
        le=100.0,
        description="Fail an export whose behaviour score (0–100: answers on the job's held-out rows, and naming "
        "the trained identity when the job taught one) is more than this many points below the unquantised model's.",
    )
    precision_ladder: bool = Field(
        True,
        description="When an export fails its gate, try the next candidate before failing, cheapest first: smaller "
        "groups (down to 32), more calibration rows, then 8-bit weights (W8A16). false = one try.",
    )
