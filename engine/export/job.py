"""What the export stage hands an export method: one record, so every method has the same two calls.

An export method module (named in engine.spec.methods.EXPORT_METHODS) has
    describe(spec, calib) -> str          the plan's line (no heavy imports)
    export(run) -> (quant, figures)       quantise into run.tmp, check it with run.checker, and say what it did
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..context import Context
from ..spec import JobSpec


@dataclass
class ExportRun:
    spec: JobSpec
    ctx: Context
    source: Path  # the full-precision model being exported
    tmp: Path  # where the export is written (renamed to export/ once it passes)
    tokenizer: Any
    calib: Any  # engine.export.calibration.CalibrationSet
    dtype: Any
    device: str
    checker: Any  # engine.export.verify.Checker, bound to the source model and the held-out rows
    watch: Any  # engine.export.progress.Watch: says what is happening while a library is silent


def free_memory() -> None:
    """Give memory back between the models (the caller has dropped its reference)."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
