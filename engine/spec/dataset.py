"""Training data: where it is and how to read it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section

DataFormat = Literal["auto", "messages", "alpaca", "sharegpt", "dpo", "kto"]


class DatasetSpec(Section):
    sft: str | None = Field(
        None,
        description="Supervised data: a JSONL/JSON/CSV file, or the name of a built-in dataset.",
        max_length=1024,
    )
    preference: str | None = Field(
        None,
        description="Preference data for DPO/KTO: a file (prompt/chosen/rejected, or prompt/completion/label) "
        "or a built-in dataset name.",
        max_length=1024,
    )
    format: DataFormat = Field(
        "auto",
        description="Row format: auto (detect from the rows), messages, alpaca, sharegpt, dpo or kto.",
    )
    max_samples: int | None = Field(
        None, ge=1, description="Use at most this many rows of each dataset (after shuffling); empty = all."
    )
    val_ratio: float = Field(
        0.0, ge=0.0, lt=0.5, description="Share of rows held out for evaluation, 0 to 0.5 (0 = no evaluation)."
    )
