"""The engine's shape is checked, not described: declared layers, no import cycles, one stage table,
and every registered stage module meeting the stage Protocol."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import grimp
import pytest

from engine import stages
from engine.spec.stages import FACTS, ORDER, STAGES, TASK_STAGES
from engine.stages.contract import Stage, TrainingStage, contract_problems

ROOT = Path(__file__).resolve().parents[2]


def test_the_declared_import_contracts_hold():
    result = subprocess.run([str(Path(sys.executable).with_name("lint-imports"))], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "layers" in result.stdout.lower() and "0 broken" in result.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of engine modules (Tarjan), lazy imports inside functions included."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if not w.startswith("engine"):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_in_the_engine_takes_part_in_an_import_cycle():
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    graph = grimp.build_graph("engine", exclude_type_checking_imports=True)
    assert _cycles(graph) == []


def test_the_cycle_finder_sees_a_cycle_made_of_lazy_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pkg = tmp_path / "engine_cycle_probe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from . import b\n")
    (pkg / "b.py").write_text("from . import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("engine_cycle_probe")
    assert _cycles(graph) == [["engine_cycle_probe.a", "engine_cycle_probe.b"]]


def test_every_stage_in_the_table_has_a_module_that_meets_the_protocol():
    assert tuple(stages.MODULES) == ORDER
    for facts in STAGES:
        module = stages.load(facts.name)
        assert module.NAME == facts.name
        assert isinstance(module, Stage)
        assert contract_problems(module, facts.trains) == []
        if facts.trains:
            assert isinstance(module, TrainingStage)


def test_a_module_missing_a_member_or_with_other_parameters_breaks_the_contract():
    module = types.ModuleType("engine.stages.probe")
    module.NAME = "probe"
    module.spec_slice = lambda spec: {}
    module.outputs = lambda spec, job_dir: []
    module.unavailable = lambda spec: None
    module.plan = lambda spec, ctx: None
    module.run = lambda job, ctx: {}
    problems = contract_problems(module, training=True)
    assert "engine.stages.probe has no current" in problems
    assert "engine.stages.probe has no train" in problems
    assert any("run(job, ctx) should take (spec, ctx)" in p for p in problems)


def test_task_stage_lists_name_known_stages_in_table_order():
    for task, names in TASK_STAGES.items():
        assert set(names) <= set(FACTS), task
        assert list(names) == sorted(names, key=ORDER.index), task
