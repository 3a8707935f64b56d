"""Which model to start from and where it comes from."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Section

Hub = Literal["modelscope", "huggingface", "local", "builtin"]
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


class ModelSpec(Section):
    id: str = Field(
        description="Model to start from: a hub ID such as Qwen/Qwen2.5-0.5B-Instruct, a local directory "
        "(with hub: local), or builtin/smollm2-135m-instruct (with hub: builtin).",
        min_length=1,
        max_length=512,
    )
    hub: Hub = Field(
        "modelscope",
        description="Where to fetch the model: modelscope (default, fast in China), huggingface, "
        "local (a directory on this machine) or builtin (shipped with this tool, offline).",
    )
    revision: str | None = Field(
        None,
        description="Branch, tag or commit to download; empty means the hub's default branch.",
        max_length=200,
    )
    trust_remote_code: bool = Field(
        False,
        description="Run Python code that ships with the model. Off by default: turn on only for a "
        "model you trust that needs it.",
    )

    @field_validator("id")
    @classmethod
    def _no_control_chars(cls, value: str) -> str:
        if any(ord(ch) < 32 for ch in value):
            raise ValueError("must not contain control characters such as newlines")
        if value != value.strip():
            raise ValueError("must not start or end with spaces")
        return value

    @field_validator("revision")
    @classmethod
    def _revision_plain(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9._/-]+", value):
            raise ValueError("use letters, digits and . _ / - only (a branch, tag or commit hash)")
        return value

    @model_validator(mode="after")
    def _id_matches_hub(self) -> ModelSpec:
        if self.hub in ("modelscope", "huggingface") and not HUB_ID.match(self.id):
            raise ValueError(
                f"model.id: {self.id!r} is not a hub ID of the form org/name; "
                "for a directory on this machine set model.hub: local"
            )
        if self.hub == "builtin" and not self.id.startswith("builtin/"):
            raise ValueError(f"model.id: builtin models are named builtin/<name>, got {self.id!r}")
        return self
