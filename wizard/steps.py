"""The one description of the wizard's steps, read by both the Textual screens and the plain prompts.

Each step lists the fields it shows at once; every other field of its JobSpec sections appears
under "advanced" automatically, so a field added to JobSpec shows up in both front ends with its
description as help. Whether a field matters depends on the job (LoRA settings for method full,
DPO settings for an SFT-only job do not); `applies` says so, from the stages the job will run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.spec import TASK_STAGES

from . import schema
from .draft import DEPLOY, MULTIMODAL, Draft

# Fields no step shows: the format version, and the stage list (the deploy toggle writes it).
EXCLUDED = ("version", "stages")
# Train fields only the SFT stage reads; DPO has its own learning rate, epochs and steps.
SFT_ONLY = ("train.learning_rate", "train.epochs", "train.max_steps", "train.assistant_only_loss")


@dataclass(frozen=True)
class Step:
    id: str
    common: tuple[str, ...]  # shown at once, in this order
    sections: tuple[str, ...] = ()  # the rest of these sections is the step's "advanced" part
    owns: tuple[str, ...] = ()  # problems at these paths (or below) keep the operator on this step
    when: Callable[[Draft], bool] = lambda draft: True

    def fields(self, draft: Draft) -> list[str]:
        earlier = _shown_before(self, draft)
        return [p for p in self.common if applies(p, draft) and p not in earlier]

    def advanced(self, draft: Draft) -> list[str]:
        return [p for p in self._advanced_all(draft) if p not in _shown_before(self, draft)]

    def candidates(self, draft: Draft) -> tuple[list[str], list[str]]:
        """Every field this screen may show (common, advanced), whether or not it applies right now:
        screens build a row for each and hide those that do not apply, so toggles can bring them back."""
        earlier = _shown_before(self, draft)
        common = [p for p in self.common if p not in earlier]
        advanced = [p for p in self._advanced_all(draft, every=True) if p not in earlier]
        return common, advanced

    def _advanced_all(self, draft: Draft, every: bool = False) -> list[str]:
        shown = _all_common()
        out = []
        for path in schema.leaf_paths():
            if path in shown or path in EXCLUDED:
                continue
            if any(path.startswith(section + ".") for section in self.sections) and (every or applies(path, draft)):
                out.append(path)
        return out

    def owns_problem(self, path: str) -> bool:
        return any(path == own or path.startswith(own + ".") for own in self.owns)


def task_choices() -> tuple[str, ...]:
    """What the Task step offers: every JobSpec task, then the multimodal fine-tune (task sft with images)."""
    return (*schema.meta("task").choices, MULTIMODAL)


def _trains(draft: Draft) -> bool:
    names = draft.stage_names()
    return "sft" in names or "dpo" in names


def applies(path: str, draft: Draft) -> bool:
    """Whether this field changes anything for the job as answered so far."""
    names = draft.stage_names()
    task_stages = TASK_STAGES[draft.task]
    if path == DEPLOY:
        return draft.task != "deploy"
    if path == "dataset.sft":
        return "sft" in names
    if path == "dataset.preference":
        return "dpo" in names
    if path.startswith("dataset.model_"):  # the identity that fills built-in sets' {{NAME}} / {{AUTHOR}}
        from . import sources

        chosen = [draft.get("dataset.sft") if "sft" in names else None,
                  draft.get("dataset.preference") if "dpo" in names else None]
        return any(sources.has_placeholders(c) for c in chosen)
    if path.startswith("dataset."):
        return _trains(draft)
    if path in SFT_ONLY:
        return "sft" in names
    if path.startswith("train.lora."):
        return _trains(draft) and draft.get("train.method") != "full"
    if path.startswith("train.vision."):  # what stays frozen: only a vision-language model has these parts
        return _trains(draft) and draft.vision
    if path.startswith(("train.", "parallel.")):
        return _trains(draft)
    if path.startswith("dpo."):
        return "dpo" in names
    if path == "export.method":  # shown even when "none" dropped the stage, so it can be turned back on
        custom = draft.data.get("stages")
        return "export" in task_stages and (custom is None or "export" in custom)
    if path.startswith("export."):
        return "export" in names
    if path == "eval.enabled":  # shown while off too, so scoring can be turned back on
        custom = draft.data.get("stages")
        return "eval" in task_stages and (custom is None or "eval" in custom)
    if path.startswith("eval."):
        return "eval" in names
    if path.startswith("deploy."):
        return "deploy" in names
    return True


# Dataset fields other than the two sources: either data step may be where they are answered.
_DATASET_REST = tuple(
    p for p in schema.leaf_paths() if p.startswith("dataset.") and p not in ("dataset.sft", "dataset.preference")
)

STEPS: tuple[Step, ...] = (
    Step("task", ("task",), owns=("task",)),
    Step("model", ("model.id", "model.hub"), ("model",), owns=("model",)),
    Step(
        "data",
        ("dataset.sft", "dataset.format", "dataset.model_name", "dataset.model_author"),
        ("dataset",),
        owns=("dataset.sft", *_DATASET_REST),
        when=lambda d: "sft" in d.stage_names(),
    ),
    Step(  # a dpo-only job has no data step: its format and limits are asked here instead
        "preference",
        ("dataset.preference", "dataset.format", "dataset.model_name", "dataset.model_author"),
        ("dataset",),
        owns=("dataset.preference", *_DATASET_REST),
        when=lambda d: "dpo" in d.stage_names(),
    ),
    Step(
        "train",
        (
            "train.method",
            "train.lora.r",
            "train.lora.alpha",
            "train.lora.target_modules",
            "train.learning_rate",
            "train.epochs",
            "train.max_steps",
            "train.batch_size",
            "train.max_length",
            "train.precision",
            "train.vision.freeze_vision_tower",
            "train.vision.freeze_projector",
            "dpo.algorithm",
            "dpo.beta",
            "dpo.learning_rate",
            "dpo.epochs",
        ),
        ("train", "dpo", "parallel"),
        owns=("train", "dpo", "parallel"),
        when=_trains,
    ),
    Step(
        "export",
        ("export.method", "eval.enabled", "eval.benchmarks", DEPLOY, "deploy.port", "deploy.api_key_env"),
        ("export", "eval", "deploy"),
        owns=("export", "eval", "deploy", "stages"),
    ),
    Step("review", ("name",), owns=("name", "version", "task", "job")),
)


def _shown_before(step: Step, draft: Draft) -> set[str]:
    """Fields an earlier step of this job already shows (a field is asked once)."""
    out: set[str] = set()
    for other in active(draft):
        if other.id == step.id:
            break
        out.update(p for p in other.common if applies(p, draft))
        out.update(other._advanced_all(draft))
    return out


def _all_common() -> set[str]:
    return {p for step in STEPS for p in step.common}


def by_id(step_id: str) -> Step:
    return next(s for s in STEPS if s.id == step_id)


def active(draft: Draft) -> list[Step]:
    """The steps this job goes through, in order (skipped ones depend on the task)."""
    return [s for s in STEPS if s.when(draft)]


def step_problems(step: Step, draft: Draft) -> list[tuple[str, str]]:
    """Problems of the whole job that this step must fix before the operator may leave it."""
    problems = draft.problems()
    if step.id == "review":
        return problems  # nothing may be left: the review never shows a job validate would refuse
    return [(p, m) for p, m in problems if step.owns_problem(p)]


def neighbour(draft: Draft, current: str, delta: int) -> str | None:
    """The id of the next (delta=1) or previous (delta=-1) step that applies, or None at either end."""
    ids = [s.id for s in active(draft)]
    if current not in ids:  # a step that stopped applying (the task changed): restart from the order
        order = [s.id for s in STEPS]
        later = [i for i in ids if order.index(i) > order.index(current)]
        earlier = [i for i in ids if order.index(i) < order.index(current)]
        return (later[0] if later else None) if delta > 0 else (earlier[-1] if earlier else None)
    index = ids.index(current) + delta
    return ids[index] if 0 <= index < len(ids) else None
