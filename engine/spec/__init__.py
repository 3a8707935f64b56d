"""The job schema. Import JobSpec from here; each section lives in its own module."""

from .dataset import DatasetSpec
from .deploy import DeploySpec
from .errors import format_errors
from .eval import EvalSpec
from .export import ExportSpec
from .job import JobSpec
from .model import ModelSpec
from .parallel import ParallelSpec
from .stages import ORDER, TASK_STAGES
from .train import DpoSpec, LoraSpec, TrainSpec

__all__ = [
    "ORDER",
    "TASK_STAGES",
    "DatasetSpec",
    "DeploySpec",
    "DpoSpec",
    "EvalSpec",
    "ExportSpec",
    "JobSpec",
    "LoraSpec",
    "ModelSpec",
    "ParallelSpec",
    "TrainSpec",
    "format_errors",
]
