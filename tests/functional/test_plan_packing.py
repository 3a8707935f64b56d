"""`plan` counts steps over packed sequences when train.packing is on, over rows when it is off."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.jobs import tiny_job, write_job


def _sft_plan(cli, tmp_path: Path, model: Path, data: Path, packing: str) -> dict:
    job = tiny_job(model, data, name=f"p{packing}", stages=["download", "sft"],
                   train={"max_steps": None, "epochs": 1, "batch_size": 4, "grad_accum": 1, "max_length": 256,
                          "packing": packing})
    result = cli("plan", "--json", str(write_job(tmp_path / f"{packing}.yaml", job)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return next(s for s in json.loads(result.stdout)["stages"] if s["stage"] == "sft")


def test_packing_on_plans_fewer_steps_than_one_per_four_rows(cli, tmp_path: Path, toy_data: Path, tiny_model: Path):
    rows = sum(1 for line in toy_data.read_text().splitlines() if line.strip())
    off = _sft_plan(cli, tmp_path, tiny_model, toy_data, "off")
    on = _sft_plan(cli, tmp_path, tiny_model, toy_data, "on")
    assert off["estimate"]["steps"] == -(-rows // 4) and "packed" not in off["summary"]
    # the toy rows are ~20 tokens: a dozen of them fill one 256-token sequence
    assert 1 <= on["estimate"]["steps"] < off["estimate"]["steps"] // 4
    assert "packed: about" in on["summary"] and on["estimate"]["rows"] == rows
