"""Dataset-test helpers: a JobSpec around one data file, and the problems loading it reports."""

from __future__ import annotations

import pytest

from engine.data.sft import load_sft
from engine.errors import UserError
from engine.spec import JobSpec

HI = {"role": "user", "content": "hi"}
YO = {"role": "assistant", "content": "yo"}


def spec_for(sft: str, **dataset) -> JobSpec:
    return JobSpec.model_validate(
        {"name": "t", "task": "sft", "model": {"id": "m", "hub": "local"}, "dataset": {"sft": sft, **dataset}}
    )


def problems_of(spec: JobSpec) -> list[str]:
    with pytest.raises(UserError) as info:
        load_sft(spec)
    return info.value.lines
