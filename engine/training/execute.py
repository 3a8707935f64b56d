"""Run a training stage's `train` here, or under torchrun on every rank, and bring back its result.

The parent (the `engine run` process) prepares what must happen once — checkpoint folder,
merged base for DPO — then either calls train() itself or starts torchrun. Only the parent
touches state.json; rank 0 writes outputs and events.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..context import Context
from ..errors import UserError
from ..spec import JobSpec
from ..spec.stages import FACTS
from ..util.fs import write_json_atomic, write_text_atomic
from . import launch
from .launch import Layout

Train = Callable[[JobSpec, Context, Layout, dict[str, Any]], dict[str, Any]]
RESULT = "result.json"
RUN = "run.json"


def execute(spec: JobSpec, ctx: Context, stage: str, prep: dict[str, Any], train: Train) -> dict[str, Any]:
    layout = launch.resolve(spec, ctx.hardware, ctx.job_dir)
    if not (layout.launched and FACTS[stage].launched):  # a stage the table keeps in-process runs here
        return train(spec, ctx, layout, prep)
    return _spawn(spec, ctx, stage, layout, prep)


def _death_signal() -> Callable[[], None] | None:
    """A pre-exec hook so that if `engine run` is killed, torchrun gets SIGTERM and stops its ranks.

    libc is loaded here, before the fork; the child only makes the one prctl call (PR_SET_PDEATHSIG).
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None
    return lambda: libc.prctl(1, signal.SIGTERM)


def _layer_classes(spec: JobSpec, prep: dict[str, Any]) -> list[str]:
    from .loading import decoder_layer_classes

    return decoder_layer_classes(Path(prep["base"]), spec.model.trust_remote_code)


def _spawn(spec: JobSpec, ctx: Context, stage: str, layout: Layout, prep: dict[str, Any]) -> dict[str, Any]:
    folder = launch.run_dir(ctx.job_dir, stage)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    argv = launch.torchrun_argv(layout, ctx.job_dir, stage)
    if layout.strategy != "none":
        path = folder / f"{layout.strategy}.yaml"
        classes = _layer_classes(spec, prep) if layout.strategy == "fsdp" else []
        write_text_atomic(path, launch.render_settings(layout, spec, stage, argv, classes))
        layout = replace(layout, settings=str(path))
    write_json_atomic(folder / RUN, {"spec": spec.model_dump(mode="json"), "prep": prep, "layout": layout.to_dict()})
    log_path = ctx.files.log(stage)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(launch.ROOT), os.environ.get("PYTHONPATH")]))}
    env.setdefault("OMP_NUM_THREADS", str(max(1, ctx.hardware.cpu_cores // layout.nproc)))
    env.pop("RANK", None)
    ctx.log(f"{stage}: starting {layout.describe()} with torchrun; their output goes to {log_path}")
    with open(log_path, "a", encoding="utf-8") as log:
        code = subprocess.run(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              preexec_fn=_death_signal(), check=False).returncode
    result = _read_result(folder / RESULT)
    if result.get("error"):
        if result.get("user"):
            raise UserError(*result["error"])
        raise RuntimeError("\n".join([*result["error"], f"(full output: {log_path})"]))
    if code != 0 or "outputs" not in result:
        raise RuntimeError(f"torchrun exited with status {code}; last lines of {log_path}:\n{_tail(log_path)}")
    return result["outputs"]


def _read_result(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def write_result(job_dir: Path, stage: str, data: dict[str, Any]) -> None:
    """Rank 0's answer to the parent: outputs, or the error lines."""
    write_json_atomic(launch.run_dir(job_dir, stage) / RESULT, data)
