"""What a benchmark is made of: items with a prompt and whatever their kind needs to be scored.

One shape for every kind (multiple choice, free answers, instruction rules, identity, held-out rows,
preference pairs) so the runner, the saved generations and the report treat them alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["mcq", "qa", "instructions", "identity", "heldout", "preference"]
Messages = list[dict[str, Any]]  # content: text, or parts with {"type": "image", "image": path} (image rows)

# The figure a kind is judged by in the report's table (the others are kept beside it).
MAIN_METRIC: dict[str, str] = {
    "mcq": "accuracy",
    "qa": "rouge_l",
    "instructions": "prompt_accuracy",
    "identity": "named",
    "heldout": "rouge_l",
    "preference": "preference_accuracy",
}


@dataclass
class Item:
    id: str
    prompt: Messages
    reference: str = ""  # the answer (qa, held-out), the right letter (mcq), the chosen answer (preference)
    choices: dict[str, str] = field(default_factory=dict)  # mcq: letter → text
    rules: list[dict[str, Any]] = field(default_factory=list)  # instructions: checked by code
    names: list[str] = field(default_factory=list)  # identity: any of these in the answer counts
    rejected: str = ""  # preference: the rejected answer
    lang: str = "en"
    where: str = ""  # file:line it came from, for messages


@dataclass
class Benchmark:
    name: str  # as reported: the shipped name, the file's name, or "held-out"
    kind: Kind
    source: str  # where the items came from (a shipped file, a user's file, the job's data)
    items: list[Item]

    @property
    def metric(self) -> str:
        return MAIN_METRIC[self.kind]

    @property
    def generates(self) -> bool:
        """Whether scoring needs generated answers (mcq and preference need log-probabilities only)."""
        return self.kind not in ("mcq", "preference")
