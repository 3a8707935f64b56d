"""Training data: where it is, how to read it, and the identity the built-in self-cognition sets teach."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section

DataFormat = Literal["auto", "messages", "alpaca", "sharegpt", "dpo", "kto"]
MAX_IMAGE_PIXELS = 2048 * 2048


class DatasetSpec(Section):
    sft: str | None = Field(
        None,
        description="Supervised data: a JSONL/JSON/CSV file, or a built-in dataset name "
        "(self-cognition, general-qa, self-cognition-mix; with images: shapes-vqa). Rows with images name them "
        "in \"images\" (paths relative to the file) with one <image> tag each in the text.",
        max_length=1024,
    )
    preference: str | None = Field(
        None,
        description="Preference data for DPO/KTO: a file (prompt/chosen/rejected, messages+rejected_response, "
        "or prompt/completion/label) or a built-in name (identity-preference, identity-kto, helpful-preference; "
        "with images: shapes-vqa-preference).",
        max_length=1024,
    )
    format: DataFormat = Field(
        "auto",
        description="Row format: auto (detect from the rows and report it), messages, alpaca, sharegpt, dpo or kto. "
        "A supervised format applies to dataset.sft, dpo/kto to dataset.preference; the other is detected.",
    )
    max_samples: int | None = Field(
        None, ge=1, description="Use at most this many rows of each dataset (after shuffling); empty = all."
    )
    val_ratio: float = Field(
        0.0, ge=0.0, lt=0.5, description="Share of rows held out for evaluation, 0 to 0.5 (0 = no evaluation)."
    )
    # 2048×2048: a phone photo (12 MP) is refused before training, not fed at full size. Qwen2-VL's
    # processor caps at 12.8 MP by default, ~16k image tokens an image; at 4 MP it is ~5k, still large.
    max_image_pixels: int = Field(
        MAX_IMAGE_PIXELS,
        ge=28 * 28,
        le=100_000_000,
        description="Largest image a dataset row may carry, in pixels (width × height; default 4194304 = "
        "2048×2048). Larger images are reported with their file:line before training; shrink them first.",
    )
    model_name: str = Field(
        "Hammer",
        min_length=1,
        max_length=100,
        description="The name the model gives itself: fills {{NAME}} in the built-in self-cognition and identity sets.",
    )
    model_author: str = Field(
        "Yichuidingyin Lab",
        min_length=1,
        max_length=100,
        description="Who the model says made it: fills {{AUTHOR}} in the built-in self-cognition and identity sets.",
    )
    model_name_zh: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="The name used in the Chinese rows of the built-in sets, e.g. 小锤; empty = model_name.",
    )
    model_author_zh: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="The author used in the Chinese rows of the built-in sets, e.g. 一锤定音实验室; empty = model_author.",
    )
