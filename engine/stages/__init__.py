"""The stage registry: stage name → module. The CLI, the pipeline and the wizard all read this map.

Modules are imported only when a stage is planned or run, and each keeps its heavy imports
(torch, transformers, ...) inside run(), so validate/plan stay fast.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..spec import ORDER

MODULES: dict[str, str] = {name: f"engine.stages.{name}" for name in ORDER}


def load(name: str) -> ModuleType:
    return importlib.import_module(MODULES[name])
