"""The precision ladder: when an export fails its gate, the next candidate, cheapest first.

AWQ at the chosen group size → smaller groups (down to 32) → more calibration rows → 8-bit weights
(W8A16, round-to-nearest: 8 bits keep almost everything and need no data). Every try is recorded,
so report.json and the model card say which shipped and why the others did not.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..spec import JobSpec
from .groups import CANDIDATES as GROUP_SIZES


@dataclass(frozen=True)
class Variant:
    label: str
    group_size: int | None = None  # None: the method's own choice (export.group_size)
    samples: int | None = None  # calibration rows; None: export.calibration_samples
    bits: int = 4


def next_variants(spec: JobSpec, first: dict[str, Any], available_rows: int) -> list[Variant]:
    """The rungs after the first try (whose quantisation settings are `first`)."""
    if not spec.export.precision_ladder or first.get("algorithm") not in ("awq", "rtn"):
        return []
    if int(first.get("bits") or 4) >= 8:  # already the ladder's last rung (the w8a16 method)
        return []
    group = int(first.get("group_size") or GROUP_SIZES[0])
    samples = int(first.get("samples") or spec.export.calibration_samples)
    rungs = [Variant(f"AWQ group {g}", group_size=g, samples=samples) for g in GROUP_SIZES if g < group]
    smallest = min([group, *(g for g in GROUP_SIZES if g < group)])
    if available_rows > samples:
        more = min(available_rows, samples * 4)
        rungs.append(Variant(f"AWQ group {smallest}, {more} calibration rows", group_size=smallest, samples=more))
    rungs.append(Variant(f"W8A16 (8-bit weights, group {group})", group_size=group, samples=0, bits=8))
    return rungs


@dataclass
class Try:
    variant: Variant
    quant: dict[str, Any]
    figures: dict[str, Any]
    behaviour: dict[str, Any] | None
    reasons: list[str]

    def brief(self) -> dict[str, Any]:
        return {"candidate": self.variant.label, "variant": asdict(self.variant),
                "algorithm": self.quant.get("algorithm"), "bits": self.quant.get("bits"),
                "group_size": self.quant.get("group_size"), "ppl_ratio": self.figures.get("ppl_ratio"),
                "behaviour_score": (self.behaviour or {}).get("score"), "passed": not self.reasons,
                "reasons": self.reasons}


def clear(folder: Path) -> None:
    """Empty the temp folder between candidates (it is renamed into place only when one passes)."""
    for entry in folder.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def climb(first: Variant, attempt: Callable[[Variant], Try], rungs: Callable[[Try], list[Variant]],
          log: Callable[[str], None]) -> list[Try]:
    """Try `first`, then each rung until one passes; every try in order (the last one passed, if any did)."""
    tries = [attempt(first)]
    if not tries[0].reasons:
        return tries
    for variant in rungs(tries[0]):
        log(f"{tries[-1].variant.label} failed the gate ({'; '.join(tries[-1].reasons)}); trying {variant.label}")
        tries.append(attempt(variant))
        if not tries[-1].reasons:
            break
    return tries
