"""One screen per step. SCREENS maps a step id (wizard.steps) to the module and class that draw it;
a screen's module is imported when its step is first shown, so the first screen appears sooner."""

from __future__ import annotations

import importlib
from typing import Any

SCREENS: dict[str, str] = {
    "task": "wizard.screens.task:TaskScreen",
    "model": "wizard.screens.model:ModelScreen",
    "data": "wizard.screens.data:DataScreen",
    "preference": "wizard.screens.data:DataScreen",
    "train": "wizard.screens.train:TrainScreen",
    "export": "wizard.screens.base:StepScreen",  # plain field rows: export method, deploy toggle, port, key variable
    "review": "wizard.screens.review:ReviewScreen",
}


def screen_class(step_id: str) -> Any:
    module, name = SCREENS[step_id].split(":")
    return getattr(importlib.import_module(module), name)
