"""JobSpec: the one description of a job that the wizard, the YAML file and the engine all share."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Section
from .dataset import DatasetSpec
from .deploy import DeploySpec
from .eval import EvalSpec
from .export import ExportSpec
from .model import ModelSpec
from .parallel import ParallelSpec
from .rules import RULES
from .stages import ORDER, StageName, Task, implied_stages
from .train import DpoSpec, TrainSpec

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class JobSpec(Section):
    version: Literal[1] = Field(1, description="Job file format version.")
    name: str = Field(
        description="Job name: lowercase letters, digits, - and _; outputs go to jobs/<name>/.",
    )
    task: Task = Field(
        description="What to do: sft (fine-tune), dpo (align with preferences), sft+dpo, "
        "export (quantise an existing model) or deploy (serve an existing model).",
    )
    stages: list[StageName] | None = Field(
        None,
        description="Run exactly these stages instead of the ones the task implies, "
        "e.g. [download, sft, merge]. Empty = the task's stages.",
    )
    model: ModelSpec = Field(description="The model to start from.")
    dataset: DatasetSpec = Field(default_factory=DatasetSpec, description="Training data.")
    train: TrainSpec = Field(default_factory=TrainSpec, description="Supervised fine-tuning.")
    dpo: DpoSpec = Field(default_factory=DpoSpec, description="Preference training (DPO / KTO).")
    parallel: ParallelSpec = Field(default_factory=ParallelSpec, description="Processes, machines and sharding.")
    export: ExportSpec = Field(default_factory=ExportSpec, description="Quantised export.")
    deploy: DeploySpec = Field(default_factory=DeploySpec, description="Serving as an OpenAI-compatible API.")
    eval: EvalSpec = Field(default_factory=EvalSpec, description="Scoring base, fine-tuned and exported models.")

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not NAME.fullmatch(value):  # match() would let a trailing newline through ("$" matches before it)
            raise ValueError(
                "must be 1–64 characters of lowercase letters, digits, - and _, starting with a letter or "
                "digit (it names the folder jobs/<name>/)"
            )
        return value

    @field_validator("stages")
    @classmethod
    def _ordered(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("list at least one stage, or leave stages out to use the task's")
        if len(set(value)) != len(value):
            raise ValueError("each stage may appear once")
        if list(value) != sorted(value, key=ORDER.index):
            raise ValueError(f"stages run in the order {', '.join(ORDER)}; list them in that order")
        return value

    def stage_names(self) -> list[str]:
        """The stages this job runs, in order."""
        if self.stages is not None:
            return list(self.stages)
        return implied_stages(self)

    def quantization(self) -> str:
        """The base-model loading that train.quantization: auto stands for."""
        if self.train.quantization != "auto":
            return self.train.quantization
        return "4bit" if self.train.method == "qlora" else "none"

    def served_name(self) -> str:
        return self.deploy.served_model_name or self.name

    @model_validator(mode="after")
    def _eval_rules(self) -> JobSpec:
        """eval: an enabled eval stage needs something to score; an explicit eval stage needs eval.enabled."""
        problems: list[str] = []
        if self.stages is not None and "eval" in self.stages and not self.eval.enabled:
            problems.append("eval.enabled: the stages list has eval but eval.enabled is false; remove one of them")
        if "eval" in self.stage_names() and not (self.eval.benchmarks or self.eval.evalscope or self.eval.dataset
                                                   or self.dataset.val_ratio > 0):
            problems.append("eval.benchmarks: nothing to score; name a benchmark, give eval.dataset, set "
                            "dataset.val_ratio, or set eval.enabled: false")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @model_validator(mode="after")
    def _rules(self) -> JobSpec:
        """Every cross-section rule (engine.spec.rules), all problems at once."""
        problems = [line for rule in RULES for line in rule(self)]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def with_paths_resolved(self, base: Path) -> JobSpec:
        """A copy whose relative file paths are made absolute against `base` (the job file's folder).

        Dataset entries that are not existing files relative to base are left alone: they may be
        built-in dataset names.
        """
        data = self.model_dump()

        def absolute(value: str | None) -> str | None:
            if not value:
                return value
            path = Path(value).expanduser()
            if path.is_absolute():
                return str(path)
            candidate = (base / path).resolve()
            if candidate.exists() or "/" in value or value.startswith("."):
                return str(candidate)
            return value

        if self.model.hub == "local":
            data["model"]["id"] = absolute(self.model.id)
        data["dataset"]["sft"] = absolute(self.dataset.sft)
        data["dataset"]["preference"] = absolute(self.dataset.preference)
        data["export"]["calibration_dataset"] = absolute(self.export.calibration_dataset)
        data["eval"]["dataset"] = absolute(self.eval.dataset)
        # Shipped benchmark names stay names; anything that looks like a file becomes an absolute path.
        data["eval"]["benchmarks"] = [absolute(b) if _is_path(b) else b for b in self.eval.benchmarks]
        return JobSpec.model_validate(data)


def _is_path(entry: str) -> bool:
    """A benchmark entry that names a file (has a folder part or a file suffix) rather than a shipped benchmark."""
    return "/" in entry or "\\" in entry or entry.startswith((".", "~")) or Path(entry).suffix.lower() in (
        ".csv", ".jsonl", ".json")
