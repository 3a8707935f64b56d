"""Shared base for every spec section: unknown keys are errors, and values are re-checked on assignment.

Forbidding extras is what turns a typo such as `lerning_rate` into a message instead of a silently
ignored setting — the most common way a fine-tuning run goes quietly wrong.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
