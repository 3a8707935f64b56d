"""The Textual wizard driven with Pilot: every task to a saved job, Back keeping answers, the
language switch, help, 80×24, the Review's plan, and --job pre-filling (field checks: test_wizard_fields).

Each test asserts what an operator gets — the job file the wizard wrote, read back with the
engine's own loader — or what the screen shows at the moment it matters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from engine.render import load_job, render_job
from engine.spec import JobSpec
from tests.helpers.jobs import toy_sft_rows, write_jsonl
from wizard import i18n
from wizard.app import Outcome, WizardApp
from wizard.widgets.field import FieldRow, control_id

SIZE = (80, 24)


@pytest.fixture(autouse=True)
def steady(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """No cursor blink (stable screens), English, jobs and relative paths under this test's folder."""
    original = Input.__init__

    def init(self: Input, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.cursor_blink = False

    monkeypatch.setattr(Input, "__init__", init)
    monkeypatch.setenv("YCDY_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.setenv("YCDY_WIZARD_NO_PLAN", "1")  # the plan subprocess has its own test below
    monkeypatch.chdir(tmp_path)
    i18n.set_lang("en")
    yield
    i18n.set_lang("en")


def run(app: WizardApp, scenario: Callable[[Any, WizardApp], Awaitable[None]]) -> Outcome | None:
    async def main() -> Outcome | None:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.screen.id == "step-task" or app.screen.id == "run")
            await scenario(pilot, app)
            await until(pilot, lambda: app.return_value is not None or not app.is_running, timeout=10)
        return app.return_value

    return asyncio.run(main())


async def until(pilot: Any, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting; screen is {pilot.app.screen.id}")
        await pilot.pause(0.05)


def ready(app: WizardApp) -> bool:
    """The screen is up and has put the focus on its first field (it takes keys now)."""
    return app.focused is not None and app.focused.screen is app.screen


async def on_step(pilot: Any, step: str) -> None:
    await until(pilot, lambda: pilot.app.screen.id == f"step-{step}" and ready(pilot.app))
    await pilot.pause()


async def next_to(pilot: Any, step: str) -> None:
    """Press Ctrl+N until the given step's screen is up."""
    for _ in range(10):
        await until(pilot, lambda: ready(pilot.app))
        if pilot.app.screen.id == f"step-{step}":
            await pilot.pause()
            return
        current = pilot.app.screen.id
        await pilot.press("ctrl+n")
        await until(pilot, lambda c=current: pilot.app.screen.id != c)
    raise AssertionError(f"never reached {step}")


async def type_into(pilot: Any, path: str, text: str) -> None:
    """Focus a field, clear it with the keyboard (Ctrl+A, Ctrl+K) and type; long texts (paths) are
    pasted in one go, which the Input reports with the same Changed event as typing."""
    field = pilot.app.screen.query_one("#" + control_id(path), Input)
    field.focus()
    await pilot.press("ctrl+a", "ctrl+k", *(text if len(text) <= 12 else ""))
    if len(text) > 12:
        field.insert_text_at_cursor(text)
    await pilot.pause()


def row(app: WizardApp, path: str) -> FieldRow:
    return app.screen.query_one("#" + control_id(path) + "-row", FieldRow)


async def choose_task(pilot: Any, task: str) -> None:
    order = ["sft", "dpo", "sft+dpo", "export", "deploy"]
    await pilot.press(*["down"] * order.index(task), "enter")


def saved(outcome: Outcome | None) -> JobSpec:
    assert outcome is not None and outcome.state == "saved", outcome
    assert outcome.job is not None and outcome.job.name == "job.yaml"
    return load_job(outcome.job)


EXPECTED = {
    "sft": ("self-cognition", None, ["download", "sft", "merge", "export", "eval", "deploy"]),
    "dpo": (None, "identity-preference", ["download", "dpo", "merge", "export", "eval", "deploy"]),
    "sft+dpo": ("self-cognition", "identity-preference", ["download", "sft", "dpo", "merge", "export", "eval", "deploy"]),
    "export": (None, None, ["download", "export", "deploy"]),
    "deploy": (None, None, ["download", "deploy"]),
}


@pytest.mark.parametrize("task", list(EXPECTED))
def test_every_task_goes_from_the_first_screen_to_a_saved_job_with_the_keyboard_only(task: str, tmp_path: Path):
    async def scenario(pilot: Any, app: WizardApp) -> None:
        await choose_task(pilot, task)
        await next_to(pilot, "review")
        await until(pilot, lambda: not app.screen.query_one("#save").disabled)
        await pilot.press("ctrl+s")

    spec = saved(run(WizardApp(), scenario))
    sft, preference, stages = EXPECTED[task]
    assert spec.task == task
    assert (spec.model.id, spec.model.hub) == ("builtin/smollm2-135m-instruct", "builtin")
    assert (spec.dataset.sft, spec.dataset.preference) == (sft, preference)
    assert spec.stage_names() == stages
    assert spec.name == f"smollm2-135m-instruct-{task.replace('+', '-')}"
    assert (tmp_path / "jobs" / spec.name / "job.yaml").read_text() == render_job(spec)


def test_answers_survive_going_back_and_end_up_in_the_job(tmp_path: Path):
    async def scenario(pilot: Any, app: WizardApp) -> None:
        await pilot.press("enter")
        await next_to(pilot, "train")
        await type_into(pilot, "train.learning_rate", "0.0005")
        await type_into(pilot, "train.epochs", "2")
        await pilot.press("escape")
        await on_step(pilot, "data")
        await pilot.press("escape")
        await on_step(pilot, "model")
        await next_to(pilot, "train")
        assert app.screen.query_one("#" + control_id("train.learning_rate"), Input).value == "0.0005"
        assert app.screen.query_one("#" + control_id("train.epochs"), Input).value == "2.0"
        await next_to(pilot, "export")
        app.screen.query_one("#" + control_id("run_deploy")).focus()
        await pilot.press("space")  # deploy off
        await next_to(pilot, "review")
        await pilot.press("ctrl+s")

    spec = saved(run(WizardApp(), scenario))
    assert spec.train.learning_rate == 0.0005 and spec.train.epochs == 2.0
    assert spec.stage_names() == ["download", "sft", "merge", "export", "eval"]


def test_f2_switches_every_label_to_chinese_and_back():
    seen: dict[str, Any] = {}

    async def scenario(pilot: Any, app: WizardApp) -> None:
        await pilot.press("f2")
        await pilot.pause(0.2)
        seen["title zh"] = str(app.screen.query_one("#title").render())
        seen["keys zh"] = {b.binding.description for b in app.screen.active_bindings.values() if b.binding.show}
        await pilot.press("enter")
        await on_step(pilot, "model")
        seen["label zh"] = str(row(app, "model.id").query_one(".field-label").render())
        await pilot.press("f2")
        await pilot.pause(0.2)
        seen["label en"] = str(row(app, "model.id").query_one(".field-label").render())
        await pilot.press("ctrl+q")

    run(WizardApp(), scenario)
    assert "第 1 步，共 6 步" in seen["title zh"] and "任务" in seen["title zh"]
    assert {"下一步", "返回", "帮助", "English", "退出"} <= seen["keys zh"]
    assert seen["label zh"] == "模型" and seen["label en"] == "model"


def test_a_job_opened_with_job_comes_back_unchanged_after_walking_through(tmp_path: Path, tiny_model: Path):
    data = write_jsonl(tmp_path / "colors.jsonl", toy_sft_rows(8))
    original = JobSpec.model_validate({
        "name": "edit-me", "task": "sft", "stages": ["download", "sft", "merge"],
        "model": {"id": str(tiny_model), "hub": "local"},
        "dataset": {"sft": str(data), "format": "messages"},
        "train": {"learning_rate": 0.003, "max_steps": 12, "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj"]}},
        "deploy": {"port": 9123},
    })
    job = tmp_path / "elsewhere" / "job.yaml"
    job.parent.mkdir()
    job.write_text(render_job(original), encoding="utf-8")
    from wizard.__main__ import load

    draft, attach = load(job)
    assert attach is None

    async def scenario(pilot: Any, app: WizardApp) -> None:
        await next_to(pilot, "review")
        await pilot.press("ctrl+s")

    spec = saved(run(WizardApp(draft), scenario))  # type: ignore[arg-type]
    assert spec == original


def test_help_shows_the_focused_fields_description():
    seen: dict[str, str] = {}

    async def scenario(pilot: Any, app: WizardApp) -> None:
        await pilot.press("enter")
        await next_to(pilot, "train")
        app.screen.query_one("#" + control_id("train.max_length")).focus()
        await pilot.press("f1")
        await until(pilot, lambda: app.screen.id == "help-screen")
        seen["help"] = " ".join(str(w.render()) for w in app.screen.query("Static"))
        await pilot.press("escape")
        await on_step(pilot, "train")
        await pilot.press("ctrl+q")

    run(WizardApp(), scenario)
    assert JobSpec.model_fields["train"].annotation.model_fields["max_length"].description in seen["help"]


def test_every_screen_fits_80_by_24_with_its_buttons_and_keys_visible_in_both_languages():
    problems: list[str] = []

    def check(app: WizardApp, where: str) -> None:
        screen = app.screen
        for selector in ("#title", "#nav", "Footer", "#back", "#help"):
            region = screen.query_one(selector).region
            if not (region.height and region.right <= SIZE[0] and region.bottom <= SIZE[1]):
                problems.append(f"{where}: {selector} at {region}")
        if screen.query_one("#body").max_scroll_x:
            problems.append(f"{where}: the body scrolls sideways")

    async def scenario(pilot: Any, app: WizardApp) -> None:
        await choose_task(pilot, "sft+dpo")
        order = ("model", "data", "preference", "train", "export", "review")
        for step in order:
            await next_to(pilot, step)
            check(app, f"en {step}")
        await pilot.press("f2")
        for step in reversed(order):
            await on_step(pilot, step)
            check(app, f"zh {step}")
            await pilot.press("escape")
        await pilot.press("ctrl+q")

    run(WizardApp(), scenario)
    assert problems == []


def test_the_review_shows_the_engines_plan_for_the_job(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("YCDY_WIZARD_NO_PLAN")
    seen: dict[str, str] = {}

    async def scenario(pilot: Any, app: WizardApp) -> None:
        await pilot.press("enter")
        await next_to(pilot, "review")
        await until(pilot, lambda: "verdict" in str(app.screen.query_one("#plan").render()), timeout=60)
        seen["plan"] = str(app.screen.query_one("#plan").render())
        await pilot.press("ctrl+q")

    run(WizardApp(), scenario)
    lines = seen["plan"].splitlines()
    assert lines[0].startswith("verdict: ")
    assert [line.split(":")[0] for line in lines if line[:1].isdigit()] == [
        "1. download", "2. sft", "3. merge", "4. export", "5. eval", "6. deploy"]
    assert any(line.startswith("5. eval: score base / fine-tuned / export") and "identity (12)" in line for line in lines)
