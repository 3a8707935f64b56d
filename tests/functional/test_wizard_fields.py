"""Every edit in the wizard is checked by the JobSpec models: refused values block Next with the
schema's own message, cross-field rules are shown at their field, models and datasets are checked
as they are typed (hub inferred, paths made absolute, rows previewed with their problems).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Select

from tests.functional.test_wizard import (  # noqa: F401  (steady is autouse)
    next_to,
    on_step,
    row,
    run,
    saved,
    steady,
    type_into,
    until,
)
from tests.helpers.jobs import toy_sft_rows, write_jsonl
from wizard.app import WizardApp
from wizard.draft import Draft
from wizard.widgets.field import control_id


def test_a_value_the_schema_refuses_blocks_next_with_the_pydantic_message():
    seen: dict[str, Any] = {}

    async def scenario(pilot: Any, app: WizardApp) -> None:
        await pilot.press("enter")
        await next_to(pilot, "train")
        await type_into(pilot, "train.learning_rate", "fast")
        seen["as typed"] = row(app, "train.learning_rate").error
        await type_into(pilot, "train.batch_size", "0")
        await pilot.press("ctrl+n")
        await pilot.pause(0.2)
        seen["screen"] = app.screen.id
        seen["batch"] = row(app, "train.batch_size").error
        seen["kept"] = app.draft.get("train.learning_rate")
        await pilot.press("ctrl+q")

    run(WizardApp(), scenario)
    assert seen["as typed"] == "Input should be a valid number, unable to parse string as a number (got 'fast')"
    assert seen["screen"] == "step-train"
    assert seen["batch"] == "Input should be greater than or equal to 1 (got '0')"
    assert seen["kept"] == 0.0001  # the draft keeps the last valid value


def test_a_cross_field_rule_is_shown_at_its_field_inside_the_opened_advanced_part():
    seen: dict[str, Any] = {}

    async def scenario(pilot: Any, app: WizardApp) -> None:
        await pilot.press("enter")
        await next_to(pilot, "train")
        app.screen.query_one("#methods").focus()
        await pilot.press("down")  # qlora
        app.screen.query_one("#advanced CollapsibleTitle").focus()
        await pilot.press("enter")  # open the advanced part
        await until(pilot, lambda: bool(app.screen.query("#" + control_id("train.quantization"))))
        app.screen.query_one("#" + control_id("train.quantization"), Select).value = "none"
        await pilot.pause()
        await pilot.press("ctrl+n")
        await pilot.pause(0.2)
        seen["screen"] = app.screen.id
        seen["error"] = row(app, "train.quantization").error
        seen["advanced open"] = not app.screen.query_one("#advanced").collapsed
        await pilot.press("ctrl+q")

    run(WizardApp(), scenario)
    assert seen["screen"] == "step-train"
    assert seen["error"] == "qlora trains on a 4-bit base, got none; use 4bit or auto"
    assert seen["advanced open"]


def test_the_model_is_checked_as_it_is_typed_and_the_hub_follows_what_was_typed(tiny_model: Path):
    seen: dict[str, Any] = {}

    async def scenario(pilot: Any, app: WizardApp) -> None:
        await pilot.press("enter")
        await on_step(pilot, "model")
        await type_into(pilot, "model.id", "no-such-thing")
        seen["bad"] = row(app, "model.id").error
        await type_into(pilot, "model.id", "Qwen/Qwen2.5-0.5B-Instruct")
        seen["hub id"] = (row(app, "model.id").error, app.draft.get("model.hub"))
        await type_into(pilot, "model.id", str(tiny_model))
        await until(pilot, lambda: "✓" in str(app.screen.query_one("#model-status").render()))
        seen["local"] = (app.draft.get("model.id"), app.draft.get("model.hub"))
        await pilot.press("ctrl+n")
        await on_step(pilot, "data")
        await pilot.press("ctrl+q")

    run(WizardApp(), scenario)
    assert seen["bad"] == "builtin models are named builtin/<name>, got 'no-such-thing'"
    assert seen["hub id"] == (None, "modelscope")
    assert seen["local"] == (str(tiny_model), "local")


def test_a_search_word_lists_catalogue_matches_and_enter_picks_one():
    seen: dict[str, Any] = {}

    async def scenario(pilot: Any, app: WizardApp) -> None:
        await pilot.press("enter")
        await on_step(pilot, "model")
        await type_into(pilot, "model.id", "qwen2.5 0.5b")
        listing = app.screen.query_one("#catalogue")
        await until(pilot, lambda: listing.option_count and "0.5B" in str(listing.get_option_at_index(0).prompt))
        seen["hint"] = row(app, "model.id").error
        await pilot.press("enter")  # to the matches
        await pilot.press("enter")  # pick the first
        await pilot.pause()
        seen["picked"] = (app.draft.get("model.id"), app.draft.get("model.hub"), row(app, "model.id").error)
        await pilot.press("ctrl+q")

    run(WizardApp(), scenario)
    assert seen["hint"].startswith("pick a model from the list below")
    assert seen["picked"] == ("Qwen/Qwen2.5-0.5B-Instruct", "modelscope", None)


def test_a_typed_dataset_path_is_previewed_and_written_absolute(tmp_path: Path):
    write_jsonl(tmp_path / "data" / "toy.jsonl", toy_sft_rows(12))
    seen: dict[str, Any] = {}

    async def scenario(pilot: Any, app: WizardApp) -> None:
        await pilot.press("enter")
        await next_to(pilot, "data")
        await type_into(pilot, "dataset.sft", "data/toy.jsonl")
        await until(pilot, lambda: "12 rows" in str(app.screen.query_one("#preview").render()), timeout=15)
        seen["preview"] = str(app.screen.query_one("#preview").render())
        await next_to(pilot, "review")
        await pilot.press("ctrl+s")

    spec = saved(run(WizardApp(), scenario))
    assert spec.dataset.sft == str(tmp_path / "data" / "toy.jsonl")
    assert "format messages" in seen["preview"] and "user: Say the color" in seen["preview"]


def test_a_dataset_with_bad_rows_shows_each_problem_with_its_line(tmp_path: Path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\nnot json\n', encoding="utf-8")
    seen: dict[str, str] = {}

    async def scenario(pilot: Any, app: WizardApp) -> None:
        await pilot.press("enter")
        await next_to(pilot, "data")
        await type_into(pilot, "dataset.sft", str(bad))
        await until(pilot, lambda: "problems" in str(app.screen.query_one("#preview").render()), timeout=15)
        seen["preview"] = str(app.screen.query_one("#preview").render())
        await pilot.press("ctrl+q")

    run(WizardApp(), scenario)
    assert f"{bad}:1:" in seen["preview"] and f"{bad}:2:" in seen["preview"]


def test_the_review_refuses_to_save_a_bad_job_name_and_writes_nothing(tmp_path: Path):
    seen: dict[str, Any] = {}

    async def scenario(pilot: Any, app: WizardApp) -> None:
        await pilot.press("enter")
        await next_to(pilot, "review")
        await type_into(pilot, "name", "My Job")
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        seen["screen"] = app.screen.id
        seen["error"] = row(app, "name").error
        seen["save disabled"] = app.screen.query_one("#save").disabled
        await pilot.press("ctrl+q")

    run(WizardApp(), scenario)
    assert seen["screen"] == "step-review"
    assert seen["error"].startswith("must be 1–64 characters of lowercase letters")
    assert seen["save disabled"]
    assert not (tmp_path / "jobs").exists()


def test_the_draft_refuses_what_jobspec_refuses_and_nothing_else():
    draft = Draft()
    assert draft.set_text("deploy.port", "70000") == "Input should be less than or equal to 65535 (got '70000')"
    assert draft.set_text("deploy.api_key_env", "MY KEY") == "must be an environment variable name such as YCDY_API_KEY"
    assert draft.set_text("train.lora.target_modules", "q_proj, v_proj") is None
    assert draft.get("train.lora.target_modules") == ["q_proj", "v_proj"]
    assert draft.set_text("train.max_steps", "") is None and draft.get("train.max_steps") is None
    assert [p for p, _ in draft.problems()] == ["dataset.sft"]
