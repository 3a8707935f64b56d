"""What every stage module is: a small Protocol, checked when the registry loads a module and by a test.

No base class and no implementation inheritance: each stage stays a plain module whose functions
meet this contract (torchtune's recipe_interfaces). Every member is always present, so the pipeline
never has to ask `getattr(module, "current", ...)`.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

from ..context import Context, StagePlan
from ..spec import JobSpec

__all__ = ["Context", "Stage", "StagePlan", "TrainingStage", "contract_problems"]


@runtime_checkable
class Stage(Protocol):
    NAME: str
    """The stage's name, as in the stage table (engine.spec.stages) and in job files."""

    def spec_slice(self, spec: JobSpec) -> Any:
        """The settings that, when changed, make this stage (and every later one) run again."""

    def outputs(self, spec: JobSpec, job_dir: Path) -> list[Path]:
        """What exists when the stage is done; removed by --fresh."""

    def current(self, spec: JobSpec, job_dir: Path) -> bool:
        """False when the outputs exist but no longer hold (a server that died); True otherwise."""

    def unavailable(self, spec: JobSpec) -> str | None:
        """Why the stage cannot run in this install (a missing optional package), or None."""

    def plan(self, spec: JobSpec, ctx: Context) -> StagePlan:
        """What it will do, where, and an estimate. Fast: no torch, no model load; checks inputs."""

    def run(self, spec: JobSpec, ctx: Context) -> dict[str, Any]:
        """Do it: emit events, write outputs temp-then-rename; the dict returned goes to state.json."""


@runtime_checkable
class TrainingStage(Stage, Protocol):
    def train(self, spec: JobSpec, ctx: Context, layout: Any, prep: dict[str, Any]) -> dict[str, Any]:
        """What every torchrun rank runs (run() prepares and launches it); rank 0 writes the outputs."""


def _members(protocol: type) -> dict[str, inspect.Signature | None]:
    out: dict[str, inspect.Signature | None] = {}
    for klass in protocol.__mro__:
        if klass in (object, Protocol) or not getattr(klass, "_is_protocol", False):
            continue
        for name in getattr(klass, "__annotations__", {}):
            out.setdefault(name, None)
        for name, value in vars(klass).items():
            if inspect.isfunction(value) and not name.startswith("_"):
                out.setdefault(name, inspect.signature(value))
    return out


def contract_problems(module: ModuleType, training: bool) -> list[str]:
    """Each way `module` falls short of the contract (missing members, wrong parameter names)."""
    protocol = TrainingStage if training else Stage
    problems = []
    for name, signature in _members(protocol).items():
        if not hasattr(module, name):
            problems.append(f"{module.__name__} has no {name}")
            continue
        if signature is None:
            continue
        member = getattr(module, name)
        if not callable(member):
            problems.append(f"{module.__name__}.{name} is not a function")
            continue
        want = [p for p in signature.parameters if p != "self"]
        got = list(inspect.signature(member).parameters)
        if got != want:
            problems.append(f"{module.__name__}.{name}({', '.join(got)}) should take ({', '.join(want)})")
    return problems
