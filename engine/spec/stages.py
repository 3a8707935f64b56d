"""The stage table: every fact about a stage that is not its code, in one place.

Kept in the spec (not in engine.stages) so that validation can reject an impossible stage list
without importing any stage module, and so the wizard, the estimator, the server's default model
folder and the run screen all derive from the same rows. A new stage is one row here, one module
in engine/stages/ (checked against the Protocol in engine/stages/contract.py) and its wizard text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

# What flows from one stage to the next. "trained" resolves to adapter (lora/qlora) or model (full);
# "same" passes on whatever the stage received (a stage that only reads the model, like eval).
Artifact = Literal["model", "adapter", "server"]
Leaves = Literal["model", "trained", "server", "same"]


@dataclass(frozen=True)
class StageFacts:
    name: str
    summary: str  # one line for help texts and the wizard
    needs: tuple[Artifact, ...]  # what the stage accepts from the one before it (empty: nothing)
    leaves: Leaves
    folder: str | None = None  # its output folder under jobs/<name>/, if it writes one
    trains: bool = False  # a training stage: estimated for memory, checkpointed, resumable
    launched: bool = False  # may run under torchrun (one process per device)
    # For task-implied stages: drop the stage when this says so (an explicit `stages:` list is kept as is).
    skip_if: Callable[[Any], bool] | None = None


STAGES: tuple[StageFacts, ...] = (
    StageFacts("download", "fetch the model (or check a local folder)", needs=(), leaves="model"),
    StageFacts("sft", "supervised fine-tuning", needs=("model", "adapter"), leaves="trained", folder="sft",
               trains=True, launched=True),
    StageFacts("dpo", "preference training (DPO / KTO)", needs=("model", "adapter"), leaves="trained", folder="dpo",
               trains=True, launched=True),
    StageFacts("merge", "fold the adapter into the full-precision model", needs=("adapter",), leaves="model",
               folder="merged", skip_if=lambda spec: spec.train.method == "full"),
    StageFacts("export", "quantised export, verified before it ships", needs=("model",), leaves="model",
               folder="export", skip_if=lambda spec: spec.export.method == "none" and spec.task != "export"),
    StageFacts("eval", "score base, fine-tuned and exported models side by side", needs=("model",), leaves="same",
               folder="eval", skip_if=lambda spec: not spec.eval.enabled),
    StageFacts("deploy", "serve as an OpenAI-compatible API", needs=("model",), leaves="server"),
)

FACTS: dict[str, StageFacts] = {s.name: s for s in STAGES}
ORDER: tuple[str, ...] = tuple(s.name for s in STAGES)
StageName = Literal[ORDER]  # type: ignore[valid-type]
TRAINING: tuple[str, ...] = tuple(s.name for s in STAGES if s.trains)
MODEL_FOLDERS: dict[str, str] = {s.name: s.folder for s in STAGES if s.folder and s.leaves in ("model", "trained")}

Task = Literal["sft", "dpo", "sft+dpo", "export", "deploy"]
TASK_STAGES: dict[str, tuple[str, ...]] = {
    "sft": ("download", "sft", "merge", "export", "eval", "deploy"),
    "dpo": ("download", "dpo", "merge", "export", "eval", "deploy"),
    "sft+dpo": ("download", "sft", "dpo", "merge", "export", "eval", "deploy"),
    "export": ("download", "export", "deploy"),
    "deploy": ("download", "deploy"),
}


def implied_stages(spec: Any) -> list[str]:
    """The stages a task implies for this spec, less the ones its settings make pointless."""
    return [name for name in TASK_STAGES[spec.task] if not (FACTS[name].skip_if and FACTS[name].skip_if(spec))]


def produces(stage: str, method: str, received: str | None = "model") -> str | None:
    """What a stage leaves for the next: a full model, an adapter that still needs merging, or a server."""
    leaves = FACTS[stage].leaves
    if leaves == "trained":
        return "adapter" if method in ("lora", "qlora") else "model"
    if leaves == "same":
        return received
    return leaves


def chain_problems(stages: list[str], method: str) -> list[str]:
    """Return one message per stage whose input no earlier listed stage produces."""
    problems: list[str] = []
    have: str | None = None
    for stage in stages:
        facts = FACTS[stage]
        if not facts.needs:
            have = produces(stage, method, have)
            continue
        if have is None:
            problems.append(f"stages: {stage} needs a model, but nothing before it provides one; add download first")
        elif have == "server":
            problems.append(f"stages: {stage} cannot follow deploy; deploy is the last stage")
        elif have not in facts.needs:
            if have == "adapter":
                problems.append(f"stages: {stage} needs a full model, but the stage before it leaves an adapter; "
                                "add merge")
            else:
                problems.append(f"stages: {stage} has no adapter to {stage}; it follows sft or dpo with method "
                                "lora/qlora")
        have = produces(stage, method, have) if have is not None else None
    return problems
