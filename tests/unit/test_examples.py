"""Every job file we ship validates, so the README's examples never rot (torchtune's test_configs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.render import load_job

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def test_there_are_examples():
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_example_validates(path: Path):
    spec = load_job(path)
    assert spec.stage_names()[0] == "download"
