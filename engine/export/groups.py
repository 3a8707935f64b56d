"""The quantisation group size: it must divide the input width of every layer that is quantised.

vLLM's 4-bit kernels (and compressed-tensors' packing) split each row of a weight into groups of
`group_size` inputs; a width the group does not divide cannot be packed, so the choice is checked
here, before a minute of calibration is spent.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import UserError

CANDIDATES = (128, 64, 32)


def choose_group_size(requested: int | str, widths: Mapping[str, int]) -> tuple[int, str]:
    """The group size to use and a sentence saying why; UserError naming export.group_size if none fits.

    `widths` maps each quantised layer's name to its input width (in_features).
    """
    if not widths:
        raise UserError("export: the model has no linear layers to quantise (besides lm_head)")
    if requested == "auto":
        for size in CANDIDATES:
            if all(w % size == 0 for w in widths.values()):
                distinct = sorted(set(widths.values()))
                return size, (
                    f"group size {size}: the largest of {', '.join(map(str, CANDIDATES))} that divides every "
                    f"quantised layer's input width ({', '.join(map(str, distinct))})"
                )
        odd = _first_misfit(widths, CANDIDATES[-1])
        raise UserError(
            f"export.group_size: none of {', '.join(map(str, CANDIDATES))} divides every layer's input width "
            f"({odd}); this model cannot be packed in 4-bit groups — use export.method: bnb-4bit or none"
        )
    size = int(requested)
    if any(w % size for w in widths.values()):
        fits = [c for c in CANDIDATES if all(w % c == 0 for w in widths.values())]
        hint = f"use {fits[0]} or auto" if fits else "use export.method: bnb-4bit or none"
        raise UserError(
            f"export.group_size: {size} does not divide the input width of {_first_misfit(widths, size)}; {hint}"
        )
    return size, f"group size {size} (from export.group_size)"


def _first_misfit(widths: Mapping[str, int], size: int) -> str:
    bad = [(name, w) for name, w in widths.items() if w % size]
    name, width = bad[0]
    more = f" and {len(bad) - 1} more layers" if len(bad) > 1 else ""
    return f"{name} ({width}){more}"


def quantised_widths(model: object, ignore: tuple[str, ...] = ("lm_head",)) -> dict[str, int]:
    """Input width of every nn.Linear that will be quantised (all but `ignore`)."""
    import torch

    out: dict[str, int] = {}
    for name, module in model.named_modules():  # type: ignore[attr-defined]
        if isinstance(module, torch.nn.Linear) and name.split(".")[-1] not in ignore:
            out[name] = int(module.in_features)
    return out
