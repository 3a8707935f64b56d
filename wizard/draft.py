"""The answers so far: a JobSpec-shaped mapping that is checked by the JobSpec models at every edit.

Both front ends edit a Draft and nothing else. A value is stored only after the section model
that owns it accepted it (so the mapping always holds valid sections); cross-field rules are
checked by building the whole JobSpec, and each problem is reported at the field it names.
Two wizard-only choices are not JobSpec fields: whether to deploy at the end, which becomes the
job's `stages:` list when it is off; and whether the job is the multimodal fine-tune (task sft on a
vision-language model with an image dataset), which only steers what the model and data steps offer.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from engine.spec import EvalSpec, ExportSpec, JobSpec, TrainSpec, format_errors

from . import schema

DEPLOY = "run_deploy"  # the wizard-only field: serve the model when the job is done
MULTIMODAL = "multimodal"  # the Task step's extra choice: task sft with a vision-language model and image rows
# Fields naming a dataset: a built-in name stays as it is, a typed path is written absolute (the job file may
# be run from anywhere, and the engine reads relative paths from the job file's folder).
SOURCES = ("dataset.sft", "dataset.preference", "export.calibration_dataset")
DEFAULT_MODEL = {"id": "builtin/smollm2-135m-instruct", "hub": "builtin"}
# The multimodal task's starting point: the smallest Qwen2-VL (the family measured end to end here) and the
# built-in image set, so a first multimodal job is valid before anything is typed.
DEFAULT_VISION_MODEL = {"id": "Qwen/Qwen2-VL-2B-Instruct", "hub": "modelscope"}
IMAGE_SET = "shapes-vqa"
IMAGE_HELD_OUT = 0.1  # the multimodal task's held-out share: eval and the gate need pictures not trained on
SECTIONS = ("model", "dataset", "train", "dpo", "parallel", "export", "eval", "deploy")


def _defaults() -> dict[str, Any]:
    """Every section at its JobSpec default, plus the starting task and model."""
    data: dict[str, Any] = {"version": 1, "name": None, "task": "sft", "stages": None}
    for name in SECTIONS:
        section = JobSpec.model_fields[name].annotation
        data[name] = section(**(DEFAULT_MODEL if name == "model" else {})).model_dump(mode="json")  # type: ignore[misc]
    return data


def _problems(exc: ValidationError, section: str, model: type) -> list[tuple[str, str]]:
    out = []
    for path, message in format_errors(exc, model):
        if section and not (path == section or path.startswith(section + ".")):
            path = f"{section}.{path}" if path not in ("", "job") else section
        out.append((path, message))
    return out


class Draft:
    def __init__(self, data: dict[str, Any] | None = None, deploy: bool = True, source: Path | None = None,
                 vision: bool = False) -> None:
        self.data = data if data is not None else _defaults()
        self.deploy = deploy
        self.source = source  # the job file being edited, when the wizard was opened with --job
        self.vision = vision  # the multimodal task: the model steps offer vision-language models, image data

    # ---- reading -------------------------------------------------------------------------
    @classmethod
    def from_spec(cls, spec: JobSpec, source: Path | None = None) -> Draft:
        data = spec.model_dump(mode="json")
        deploy = "deploy" in spec.stage_names()
        if spec.stages is not None and spec.stages == [s for s in _implied(spec) if s != "deploy"]:
            data["stages"] = None  # exactly "the task's stages without deploy": the toggle says that
        return cls(data, deploy=deploy, source=source, vision=_reads_images(spec))

    def get(self, path: str) -> Any:
        if path == DEPLOY:
            return self.deploy
        node: Any = self.data
        for part in path.split("."):
            node = node[part]
        return node

    def text(self, path: str) -> str:
        return schema.to_text(self.get(path))

    @property
    def task(self) -> str:
        return self.data["task"]

    @property
    def task_choice(self) -> str:
        """The Task step's answer: a JobSpec task, or "multimodal" (task sft with images)."""
        return MULTIMODAL if self.vision and self.task == "sft" else self.task

    def choose_task(self, choice: str) -> str | None:
        """Store the Task step's answer; "multimodal" is task sft with the vision flag on.

        Switching into the multimodal task swaps the text defaults for image ones (a vision-language model,
        the built-in image set) and holds a tenth of the rows out, so the eval stage and the export's gate
        score the model on pictures it never trained on. Switching back undoes exactly those defaults, so
        moving the highlight across the list leaves nothing behind.
        """
        vision = choice == MULTIMODAL
        if vision != self.vision:
            self._swap_defaults(vision)
        self.vision = vision
        return self.set_text("task", "sft" if vision else choice)

    def _swap_defaults(self, vision: bool) -> None:
        from .sources import dataset_has_images, is_builtin_dataset, model_modality

        model, source = self.data["model"], self.data["dataset"]["sft"]
        if vision:
            if model_modality(model["id"], model["hub"]) == "text":
                self.set_values({"model.id": DEFAULT_VISION_MODEL["id"], "model.hub": DEFAULT_VISION_MODEL["hub"]})
            if source is None or (is_builtin_dataset(source) and not dataset_has_images(source)):
                self.set_values({"dataset.sft": IMAGE_SET})
        else:
            if {k: model[k] for k in DEFAULT_VISION_MODEL} == DEFAULT_VISION_MODEL:
                self.set_values({"model.id": DEFAULT_MODEL["id"], "model.hub": DEFAULT_MODEL["hub"]})
            if dataset_has_images(source):
                self.set_values({"dataset.sft": None})
        held = self.get("dataset.val_ratio")
        if vision and not held:
            self.set_values({"dataset.val_ratio": IMAGE_HELD_OUT})
        elif not vision and held == IMAGE_HELD_OUT:
            self.set_values({"dataset.val_ratio": 0.0})

    def copy(self) -> Draft:
        return Draft(copy.deepcopy(self.data), self.deploy, self.source, self.vision)

    def check_text(self, path: str, text: str) -> str | None:
        """What set_text would say, without storing anything (for prompts that validate before accepting)."""
        return self.copy().set_text(path, text)

    # ---- writing -------------------------------------------------------------------------
    def set_text(self, path: str, text: str) -> str | None:
        """Parse and store what was typed; return the pydantic message if the field refuses it."""
        if path == DEPLOY:
            self.deploy = text.strip().lower() in ("1", "true", "yes", "on", "y")
            return None
        errors = self.set_values({path: schema.from_text(path, text)})
        return errors.get(path) or next(iter(errors.values()), None)

    def set_values(self, updates: dict[str, Any]) -> dict[str, str]:
        """Store several fields of one section together (e.g. model.id with model.hub). Returns path → message."""
        if DEPLOY in updates:
            self.deploy = bool(updates.pop(DEPLOY))
        for path in SOURCES:
            if isinstance(updates.get(path), str):
                from .sources import absolute_source

                updates[path] = absolute_source(updates[path]) or None
        by_section: dict[str, dict[str, Any]] = {}
        for path, value in updates.items():
            _, section, name = schema.section_of(path)
            by_section.setdefault(section, {})[name] = value
        errors: dict[str, str] = {}
        for section, values in by_section.items():
            errors.update(self._set_section(section, values))
        return errors

    def _set_section(self, section: str, values: dict[str, Any]) -> dict[str, str]:
        if not section:  # top-level fields (name, task): only the whole JobSpec can check them
            trial = copy.deepcopy(self.data) | values
            trial["name"] = trial["name"] or "check"
            try:
                JobSpec.model_validate(self._with_stages(trial))
            except ValidationError as exc:
                bad = {p: m for p, m in format_errors(exc, JobSpec) if p in values}
                if bad:
                    return bad
            self.data.update(values)
            return {}
        model, _, _ = schema.section_of(section + ".x")
        current = self.get(section)
        try:
            checked = model.model_validate({**current, **values})
        except ValidationError as exc:
            problems = _problems(exc, section, model)
            out: dict[str, str] = {}
            for path, message in problems:
                out.setdefault(path, message)
            return out
        current.clear()
        current.update(checked.model_dump(mode="json"))
        return {}

    def set_model(self, text: str, hub: str | None = None) -> str | None:
        """Store model.id with its hub (given, or inferred from what was typed); ModelSpec checks the pair.
        Local folders are written as absolute paths."""
        hub = hub or infer_hub(text, self.data["model"]["hub"])
        value = text.strip()
        if hub == "local" and value:
            value = str(Path(value).expanduser().resolve())
        errors = self.set_values({"model.id": value, "model.hub": hub})
        return errors.get("model.id") or errors.get("model.hub")

    # ---- the whole job -------------------------------------------------------------------
    def default_name(self) -> str:
        base = Path(str(self.data["model"]["id"]).rstrip("/")).name.lower()
        slug = re.sub(r"[^a-z0-9_-]+", "-", base).strip("-_") or "job"
        task = self.task.replace("+", "-")
        return f"{slug[:48]}-{task}"

    def _with_stages(self, data: dict[str, Any]) -> dict[str, Any]:
        keep = self.deploy or data["task"] == "deploy"
        stages = data.get("stages")
        if stages is None:
            if keep:
                return data
            stages = _implied_from(data)
        if keep and "deploy" not in stages:
            stages = [*stages, "deploy"]
        if not keep:
            stages = [s for s in stages if s != "deploy"]
        return {**data, "stages": stages}

    def mapping(self) -> dict[str, Any]:
        """The mapping the JobSpec is built from: name defaulted, the deploy choice folded into stages."""
        data = copy.deepcopy(self.data)
        data["name"] = data["name"] or self.default_name()
        return self._with_stages(data)

    def spec(self) -> JobSpec:
        """The finished JobSpec; raises ValidationError exactly when `engine validate` would refuse it."""
        return JobSpec.model_validate(self.mapping())

    def problems(self) -> list[tuple[str, str]]:
        """(field path, message) for every problem of the whole job, [] when it is valid (and, for the
        multimodal task, a model known to read text only)."""
        try:
            self.spec()
        except ValidationError as exc:
            return format_errors(exc, JobSpec)
        return self._vision_problems()

    def _vision_problems(self) -> list[tuple[str, str]]:
        if not (self.vision and self.task == "sft"):
            return []
        from .sources import model_modality

        model = self.data["model"]
        if model_modality(model["id"], model["hub"]) == "text":
            return [("model.id", f"{model['id']} reads text only; the multimodal task needs a vision-language model "
                                 "(pick one from the list, or a local folder whose config.json has a vision_config)")]
        return []

    def stage_names(self) -> list[str]:
        """The stages the job will run, also while some later answer is still missing."""
        data = self.mapping()
        return list(data["stages"]) if data.get("stages") is not None else _implied_from(data)


HUB_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/")


def infer_hub(text: str, current: str) -> str:
    """The hub a typed model most likely means; keeps the operator's choice when the text is ambiguous."""
    value = text.strip()
    if value.startswith("builtin/"):
        return "builtin"
    if value.startswith(("/", "./", "../", "~")) or (value and Path(value).expanduser().is_dir()):
        return "local"
    looks_hub = value.count("/") == 1 and set(value) <= HUB_ID_CHARS and not value.startswith(".")
    if looks_hub and current in ("local", "builtin"):
        return "modelscope"
    return current


def _implied_from(data: dict[str, Any]) -> list[str]:
    """The stages JobSpec.stage_names() gives for this mapping with no stages list, even while other
    fields are still invalid (the sections stored in a Draft are always valid on their own)."""
    shell = JobSpec.model_construct(
        task=data["task"],
        stages=None,
        train=TrainSpec.model_construct(**data["train"]),
        export=ExportSpec.model_construct(**data["export"]),
        eval=EvalSpec.model_construct(**data["eval"]),
    )
    return shell.stage_names()


def _reads_images(spec: JobSpec) -> bool:
    """Whether a job file is the multimodal task: sft on a built-in image set or a vision-language model."""
    if spec.task != "sft":
        return False
    from .sources import dataset_has_images, model_modality

    return dataset_has_images(spec.dataset.sft) or model_modality(spec.model.id, spec.model.hub) == "vision"


def _implied(spec: JobSpec) -> list[str]:
    return spec.model_copy(update={"stages": None}).stage_names()
