"""Which stages a job runs, and which artifact each one needs and leaves.

Kept in the spec (not in engine.stages) so that validation can reject an impossible stage list
without importing any stage module, and so the wizard can show the list it implies.
"""

from __future__ import annotations

from typing import Literal

StageName = Literal["download", "sft", "dpo", "merge", "export", "deploy"]
ORDER: tuple[str, ...] = ("download", "sft", "dpo", "merge", "export", "deploy")
Task = Literal["sft", "dpo", "sft+dpo", "export", "deploy"]

TASK_STAGES: dict[str, tuple[str, ...]] = {
    "sft": ("download", "sft", "merge", "export", "deploy"),
    "dpo": ("download", "dpo", "merge", "export", "deploy"),
    "sft+dpo": ("download", "sft", "dpo", "merge", "export", "deploy"),
    "export": ("download", "export", "deploy"),
    "deploy": ("download", "deploy"),
}


def produces(stage: str, method: str) -> str:
    """What a stage leaves for the next: a full model, or an adapter that still needs merging."""
    if stage in ("sft", "dpo") and method in ("lora", "qlora"):
        return "adapter"
    if stage == "deploy":
        return "server"
    return "model"


def chain_problems(stages: list[str], method: str) -> list[str]:
    """Return one message per stage whose input no earlier listed stage produces."""
    problems: list[str] = []
    have: str | None = None
    for stage in stages:
        if stage == "download":
            have = "model"
            continue
        if have is None:
            problems.append(f"stages: {stage} needs a model, but nothing before it provides one; add download first")
            continue
        if stage in ("sft", "dpo"):
            # Continuing from an unmerged adapter is allowed: the dpo stage merges it first.
            have = produces(stage, method)
        elif stage == "merge":
            if have != "adapter":
                problems.append("stages: merge has no adapter to merge; it follows sft or dpo with method lora/qlora")
            have = "model"
        elif stage in ("export", "deploy"):
            if have == "adapter":
                problems.append(f"stages: {stage} needs a full model, but the stage before it leaves an adapter; add merge")
            elif have == "server":
                problems.append(f"stages: {stage} cannot follow deploy; deploy is the last stage")
            have = produces(stage, method)
    return problems
