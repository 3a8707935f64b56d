"""Snapshots of key wizard screens at 80×24, compared as Textual's own SVG export.

A changed screen fails with the path of the new rendering next to the stored one, so a reviewer can
open both; `YCDY_UPDATE_SNAPSHOTS=1` rewrites the stored files after an intended change. (The
pytest-textual-snapshot plugin would do the same, but its syrupy pin downgrades pytest here.)
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from tests.functional.test_wizard import steady  # noqa: F401  (autouse: no blink, English, a private jobs folder)
from wizard import i18n
from wizard.app import WizardApp

STORED = Path(__file__).parent / "snapshots"


async def _settle(pilot: Any, app: WizardApp, screen_id: str) -> None:
    for _ in range(200):
        if app.screen.id == screen_id and app.focused is not None and app.focused.screen is app.screen:
            break
        await pilot.pause(0.05)
    else:
        raise AssertionError(f"never reached {screen_id}; screen is {app.screen.id}")
    await pilot.pause(0.3)


def render(lang: str, steps: int) -> str:
    """SVG of the screen reached by pressing Enter `steps` times from the first one (the task list)."""
    i18n.set_lang(lang)

    async def main() -> str:
        app = WizardApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot, app, "step-task")
            for _ in range(steps):
                await pilot.press("enter")
                await _settle(pilot, app, "step-model")
            return app.export_screenshot()

    return asyncio.run(main())


def check(name: str, svg: str, tmp_path: Path) -> None:
    stored = STORED / f"{name}.svg"
    if os.environ.get("YCDY_UPDATE_SNAPSHOTS") == "1":
        stored.write_text(svg, encoding="utf-8")
    assert stored.exists(), f"no stored snapshot {stored}; run once with YCDY_UPDATE_SNAPSHOTS=1 and review it"
    if stored.read_text(encoding="utf-8") != svg:
        fresh = tmp_path / f"{name}.new.svg"
        fresh.write_text(svg, encoding="utf-8")
        raise AssertionError(f"{name} changed: compare {stored} with {fresh}")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_task_screen_looks_as_reviewed(lang: str, tmp_path: Path):
    check(f"task-{lang}", render(lang, 0), tmp_path)


def test_the_model_screen_looks_as_reviewed(tmp_path: Path):
    svg = render("en", 1)
    assert "smollm2-135m-instruct" in svg
    check("model-en", svg, tmp_path)
