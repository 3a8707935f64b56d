"""The rules that tie a job's sections together, one named function per concern.

JobSpec runs every rule and reports all their problems at once (one line each, `field: message`),
so an operator fixes a job file in one pass. A rule takes the finished JobSpec and returns lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..registry.checks import model_problems  # catalogue + a local config.json: no torch, no network
from .methods import EXPORT_METHODS, PREFERENCE_ALGORITHMS
from .stages import chain_problems

if TYPE_CHECKING:
    from .job import JobSpec

GROUP_SIZES = (32, 64, 128)


def training_rules(spec: JobSpec) -> list[str]:
    """qlora ⇒ a 4-bit base; lora never on 4-bit; full fine-tuning only on unquantised weights."""
    t, q = spec.train, spec.train.quantization
    problems = []
    if t.method == "qlora" and q in ("none", "8bit"):
        problems.append(f"train.quantization: qlora trains on a 4-bit base, got {q}; use 4bit or auto")
    if t.method == "lora" and q == "4bit":
        problems.append("train.quantization: a 4-bit base is QLoRA; set train.method: qlora")
    if t.method == "full" and q not in ("auto", "none"):
        problems.append(f"train.quantization: full fine-tuning cannot train {q} weights; use none")
    return problems


def dataset_rules(spec: JobSpec) -> list[str]:
    """Each training stage has data of its kind."""
    names, d = spec.stage_names(), spec.dataset
    problems = []
    if "sft" in names and not d.sft:
        problems.append("dataset.sft: the sft stage needs training data; give a file or a built-in dataset name")
    if "dpo" in names and not d.preference:
        problems.append("dataset.preference: the dpo stage needs preference data (prompt/chosen/rejected)")
    if d.format in PREFERENCE_ALGORITHMS and "sft" in names:
        problems.append(
            f"dataset.format: {d.format} is a preference format, but the sft stage reads dataset.sft; "
            "use auto, or a supervised format"
        )
    return problems


def export_rules(spec: JobSpec) -> list[str]:
    """awq ⇒ 4 bits, w8a16 ⇒ 8; a group size the kernels have; task export names a method."""
    e = spec.export
    problems = []
    if spec.task == "export" and e.method == "none":
        problems.append(f"export.method: task export needs an export method; use {' or '.join(EXPORT_METHODS)}")
    method = EXPORT_METHODS.get(e.method)
    if "export" in spec.stage_names() and method is not None and e.bits not in (None, method.bits):
        problems.append(f"export.bits: {e.method} export writes {method.bits}-bit weights, got {e.bits}; "
                        f"use {method.bits}")
    if isinstance(e.group_size, int) and e.group_size not in GROUP_SIZES:
        problems.append(f"export.group_size: use {', '.join(map(str, GROUP_SIZES))} or auto, got {e.group_size}")
    return problems


def parallel_rules(spec: JobSpec) -> list[str]:
    p = spec.parallel
    if p.node_rank >= p.nnodes:
        return [f"parallel.node_rank: {p.node_rank} must be below parallel.nnodes ({p.nnodes})"]
    return []


def stage_rules(spec: JobSpec) -> list[str]:
    """Each listed stage gets what it needs from the ones before it (the stage table says what that is)."""
    return chain_problems(spec.stage_names(), spec.train.method)


def model_rules(spec: JobSpec) -> list[str]:
    """What the catalogue or the model folder says this job cannot do with this model."""
    return model_problems(spec.model, spec.stage_names())


RULES = (training_rules, dataset_rules, export_rules, parallel_rules, stage_rules, model_rules)
