"""JobSpec: the one description of a job that the wizard, the YAML file and the engine all share."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Section
from .dataset import DatasetSpec
from .deploy import DeploySpec
from .export import ExportSpec
from .model import ModelSpec
from .parallel import ParallelSpec
from .stages import ORDER, StageName, Task, chain_problems, implied_stages
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
    def _cross_field(self) -> JobSpec:
        problems: list[str] = []
        names = self.stage_names()
        q = self.train.quantization
        if self.train.method == "qlora" and q in ("none", "8bit"):
            problems.append(f"train.quantization: qlora trains on a 4-bit base, got {q}; use 4bit or auto")
        if self.train.method == "lora" and q == "4bit":
            problems.append("train.quantization: a 4-bit base is QLoRA; set train.method: qlora")
        if self.train.method == "full" and q not in ("auto", "none"):
            problems.append(f"train.quantization: full fine-tuning cannot train {q} weights; use none")
        if "sft" in names and not self.dataset.sft:
            problems.append("dataset.sft: the sft stage needs training data; give a file or a built-in dataset name")
        if "dpo" in names and not self.dataset.preference:
            problems.append("dataset.preference: the dpo stage needs preference data (prompt/chosen/rejected)")
        if self.dataset.format in ("dpo", "kto") and "sft" in names:
            problems.append(
                f"dataset.format: {self.dataset.format} is a preference format, but the sft stage reads dataset.sft; "
                "use auto, or a supervised format"
            )
        if self.task == "export" and self.export.method == "none":
            problems.append("export.method: task export needs an export method; use awq or bnb-4bit")
        if "export" in names and self.export.method in ("awq", "bnb-4bit") and self.export.bits != 4:
            problems.append(f"export.bits: {self.export.method} export writes 4-bit weights, got {self.export.bits}; use 4")
        if isinstance(self.export.group_size, int) and self.export.group_size not in (32, 64, 128):
            problems.append(f"export.group_size: use 32, 64, 128 or auto, got {self.export.group_size}")
        if self.parallel.node_rank >= self.parallel.nnodes:
            problems.append(
                f"parallel.node_rank: {self.parallel.node_rank} must be below parallel.nnodes ({self.parallel.nnodes})"
            )
        if self.train.optimizer != "adamw" and self.train.method == "full" and q == "none":
            pass  # paged optimisers work for full fine-tuning on GPUs too; the CPU refusal happens at plan time
        problems.extend(chain_problems(names, self.train.method))
        from ..registry.checks import model_problems  # catalogue + a local config.json: no torch, no network

        problems.extend(model_problems(self))
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
        return JobSpec.model_validate(data)
