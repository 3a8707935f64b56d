"""The multimodal task in the Textual wizard: the Task step offers it, the Model step lists vision-language
models only and refuses a text model, the Data step offers the built-in image set with thumbnails, the method
step shows the freeze options, and the saved job is task sft on the tiny VLM folder with the image set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Checkbox, OptionList

from engine.render import render_job
from engine.spec import JobSpec
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
from wizard import sources, steps
from wizard.app import WizardApp
from wizard.draft import DEFAULT_MODEL, DEFAULT_VISION_MODEL, MULTIMODAL, Draft
from wizard.widgets.field import control_id
from wizard.widgets.thumbnail import UPPER_HALF

FREEZE = ("train.vision.freeze_vision_tower", "train.vision.freeze_projector")


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from engine.tiny_vlm import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("vlm") / "tiny-vlm", "qwen2-vl")


async def choose_multimodal(pilot: Any) -> None:
    """The multimodal fine-tune is the last choice on the Task step."""
    await pilot.press(*["down"] * (len(steps.task_choices()) - 1), "enter")


def test_the_multimodal_task_goes_to_a_saved_job_on_a_tiny_vlm_folder_with_the_built_in_image_set(tiny_vlm: Path):
    seen: dict[str, Any] = {}

    async def scenario(pilot: Any, app: WizardApp) -> None:
        task_list = app.screen.query_one("#tasks", OptionList)
        seen["task_option"] = str(task_list.get_option_at_index(task_list.option_count - 1).prompt)
        await choose_multimodal(pilot)
        await on_step(pilot, "model")
        listing = app.screen.query_one("#catalogue", OptionList)
        await until(pilot, lambda: "vision-language models" in str(listing.border_title or ""))
        seen["catalogue"] = [str(listing.get_option_at_index(i).id) for i in range(listing.option_count)]
        await type_into(pilot, "model.id", str(tiny_vlm))
        await until(pilot, lambda: row(app, "model.id").error is None and app.draft.get("model.hub") == "local")
        await next_to(pilot, "data")
        preview = app.screen.query_one("#preview")
        await until(pilot, lambda: "messages + images" in str(preview.render()), timeout=20)
        seen["preview"] = str(preview.render())
        seen["thumbnails"] = app.screen.query_one("#thumbnails").render().plain
        builtins = app.screen.query_one("#builtins", OptionList)
        seen["builtins"] = [builtins.get_option_at_index(i).id for i in range(builtins.option_count)]
        await next_to(pilot, "train")
        seen["freeze_shown"] = [row(app, p).display for p in FREEZE]
        projector = app.screen.query_one("#" + control_id("train.vision.freeze_projector"), Checkbox)
        projector.focus()
        await pilot.press("space")  # train the projector too
        await until(pilot, lambda: app.draft.get("train.vision.freeze_projector") is False)
        await next_to(pilot, "review")
        await until(pilot, lambda: not app.screen.query_one("#save").disabled)
        await pilot.press("ctrl+s")

    spec = saved(run(WizardApp(), scenario))
    assert seen["task_option"].startswith("Multimodal fine-tune (images + text)")
    listed = [option.split("|", 1) for option in seen["catalogue"]]
    assert listed and all(sources.model_modality(model_id, hub) == "vision" for hub, model_id in listed)
    assert ["modelscope", "Qwen/Qwen2-VL-2B-Instruct"] in listed and not any(h == "builtin" for h, _ in listed)
    assert seen["builtins"] == ["shapes-vqa", "shapes-vqa-heldout"]
    assert "format messages + images · 240 rows" in seen["preview"]
    assert seen["thumbnails"].startswith("1.") and UPPER_HALF * 16 in seen["thumbnails"]
    assert seen["freeze_shown"] == [True, True]
    assert spec.task == "sft"
    assert (spec.model.id, spec.model.hub) == (str(tiny_vlm.resolve()), "local")
    assert spec.dataset.sft == "shapes-vqa"
    assert spec.train.vision.freeze_vision_tower is True and spec.train.vision.freeze_projector is False
    # eval scores the held-out pictures (a tenth of the rows, the multimodal default) before and after
    assert spec.stage_names() == ["download", "sft", "merge", "export", "eval", "deploy"]
    assert spec.dataset.val_ratio == 0.1
    assert spec.name == "tiny-vlm-sft"
    assert (Path("jobs") / spec.name / "job.yaml").read_text() == render_job(spec)


def test_the_multimodal_task_keeps_the_operator_on_the_model_step_while_the_model_reads_text_only():
    seen: dict[str, Any] = {}

    async def scenario(pilot: Any, app: WizardApp) -> None:
        await choose_multimodal(pilot)
        await on_step(pilot, "model")
        await type_into(pilot, "model.id", "builtin/smollm2-135m-instruct")
        await until(pilot, lambda: app.draft.get("model.hub") == "builtin")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: row(app, "model.id").error is not None)
        seen["screen"], seen["error"] = app.screen.id, row(app, "model.id").error
        await pilot.press("ctrl+q")

    run(WizardApp(), scenario)
    assert seen["screen"] == "step-model"
    assert "reads text only; the multimodal task needs a vision-language model" in seen["error"]


def test_leaving_the_multimodal_task_restores_the_text_defaults_and_a_vlm_job_reopens_as_multimodal(tiny_vlm: Path):
    draft = Draft()
    draft.choose_task(MULTIMODAL)
    assert (draft.task, draft.task_choice) == ("sft", MULTIMODAL)
    assert {k: draft.get("model." + k) for k in DEFAULT_VISION_MODEL} == DEFAULT_VISION_MODEL
    assert draft.get("dataset.sft") == "shapes-vqa" and draft.get("eval.enabled") is True
    assert draft.get("dataset.val_ratio") == 0.1  # held-out pictures for the eval stage and the export gate
    assert [p for p in FREEZE if steps.applies(p, draft)] == list(FREEZE)
    draft.choose_task("sft")  # the highlight moved on: nothing of the multimodal defaults is left
    assert draft.data == Draft().data
    assert not any(steps.applies(p, draft) for p in FREEZE)

    draft.choose_task(MULTIMODAL)
    draft.set_model(str(tiny_vlm))
    reopened = Draft.from_spec(draft.spec())
    assert reopened.task_choice == MULTIMODAL and reopened.problems() == []
    text = Draft()
    text.set_text("dataset.sft", "self-cognition")
    text_job = Draft.from_spec(JobSpec.model_validate(text.mapping()))
    assert text_job.task_choice == "sft" and text_job.get("model.id") == DEFAULT_MODEL["id"]
