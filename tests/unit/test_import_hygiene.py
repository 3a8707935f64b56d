"""The engine is headless: it never imports the UI, and validate answers fast without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[2]
UI = ("textual", "questionary", "wizard")


def modules_after(code: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_importing_every_engine_module_pulls_in_no_ui_toolkit():
    names = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in (ROOT / "engine").rglob("*.py")
        if p.name != "__main__.py"
    )
    loaded = modules_after("\n".join(f"import {n}" for n in names))
    leaked = sorted(m for m in loaded if m.split(".")[0] in UI)
    assert leaked == []


def test_validate_and_plan_paths_do_not_import_torch():
    loaded = modules_after("import engine.cli, engine.render, engine.pipeline, engine.hardware; engine.cli.build_parser()")
    assert not {"torch", "transformers", "peft", "trl", "datasets"} & {m.split(".")[0] for m in loaded}


def test_validate_of_a_hub_job_answers_without_the_network_or_the_model(tmp_path: Path):
    # How fast it answers is measured in bench/cli_latency.py (target 1 s), not asserted here.
    job = tmp_path / "job.yaml"
    job.write_text("name: demo\ntask: sft\nmodel: {id: Qwen/Qwen2.5-0.5B-Instruct}\ndataset: {sft: d.jsonl}\n")
    result = subprocess.run([sys.executable, "-m", "engine", "validate", str(job)], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_the_command_map_matches_the_parser():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb")
    assert set(sub.choices) == set(COMMANDS)
    for name, module_path in ((n, m) for n, (m, _) in COMMANDS.items()):
        module = __import__(module_path, fromlist=["main"])
        assert callable(module.main) and callable(module.add_arguments), name
