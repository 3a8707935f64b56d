"""The stage registry: stage name → module. The CLI, the pipeline and the wizard all read this map.

Modules are imported only when a stage is planned or run, and each keeps its heavy imports
(torch, transformers, ...) inside run(), so validate/plan stay fast. A module is checked against
the Stage Protocol (engine.stages.contract) when it is first loaded.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

from ..spec.stages import FACTS, ORDER

MODULES: dict[str, str] = {name: f"engine.stages.{name}" for name in ORDER}


@cache
def load(name: str) -> ModuleType:
    from .contract import contract_problems

    module = importlib.import_module(MODULES[name])
    problems = contract_problems(module, FACTS[name].trains)
    if problems:
        raise TypeError(f"stage module {MODULES[name]} breaks the stage contract: " + "; ".join(problems))
    return module
