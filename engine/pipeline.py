"""Run a job's stages in order, skipping what is already done, recording everything in state.json.

"Done" means: state.json says done, the stage's outputs exist, and the hash of its slice of the
spec (chained with every earlier stage's) is unchanged — so editing train.learning_rate reruns
sft and everything after it, but not download (dvc's `changed`, luigi's `complete`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import hardware, stages
from .context import Context, StagePlan
from .errors import UserError
from .estimate import Preflight
from .events import EventLog
from .files import JOB_FILE, JobFiles
from .render import render_job
from .spec import JobSpec
from .state import State, stage_key
from .util.fs import remove_stale_temps, write_text_atomic


@dataclass
class StageStatus:
    name: str
    key: str
    done: bool
    record: dict[str, Any]


def job_dir_for(spec: JobSpec, job_file: Path | None, jobs_root: Path | None = None) -> Path:
    """jobs/<name>/ — or the job file's own folder when it already is jobs/<name>/job.yaml."""
    if job_file is not None:
        parent = job_file.resolve().parent
        if job_file.name == JOB_FILE and parent.name == spec.name:
            return parent
    root = jobs_root or Path(os.environ.get("YCDY_JOBS_DIR", "jobs"))
    return (root / spec.name).resolve()


def statuses(spec: JobSpec, job_dir: Path, state: State | None = None) -> list[StageStatus]:
    state = state or State.load(job_dir)
    out: list[StageStatus] = []
    upstream = ""
    for name in spec.stage_names():
        module = stages.load(name)
        key = stage_key(name, module.spec_slice(spec), upstream)
        upstream = key
        record = state.stage(name)
        done = (
            record.get("status") == "done"
            and record.get("key") == key
            and all(p.exists() for p in module.outputs(spec, job_dir))
            and module.current(spec, job_dir)
        )
        out.append(StageStatus(name, key, done, record))
    return out


def plan_job(spec: JobSpec, job_dir: Path, hw: hardware.Hardware | None = None) -> list[StagePlan]:
    hw = hw or hardware.detect(job_dir)
    state = State.load(job_dir) if JobFiles(job_dir).state.exists() else State(job_dir)
    ctx = Context(spec=spec, job_dir=job_dir, events=EventLog(JobFiles(job_dir).events, enabled=False), state=state, hardware=hw)
    plans = []
    for name in spec.stage_names():
        ctx.stage = name
        module = stages.load(name)
        reason = module.unavailable(spec)
        if reason:
            plans.append(StagePlan(name, f"not available yet: {reason}", [], notes=[reason]))
            continue
        plans.append(module.plan(spec, ctx))
    return plans


@contextmanager
def job_lock(job_dir: Path) -> Iterator[None]:
    """One runner per job. flock is released by the kernel when a killed process dies."""
    job_dir.mkdir(parents=True, exist_ok=True)
    fh = open(JobFiles(job_dir).lock, "w")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{job_dir}: this job is already running in another process; wait for it or stop it") from None
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()


def _select(spec: JobSpec, from_stage: str | None, only: str | None) -> set[str]:
    names = spec.stage_names()
    for flag, value in (("--from", from_stage), ("--only", only)):
        if value is not None and value not in names:
            raise UserError(f"{flag} {value}: this job's stages are {', '.join(names)}")
    if only:
        return {only}
    if from_stage:
        return set(names[names.index(from_stage) :])
    return set()


def run_job(
    spec: JobSpec,
    job_dir: Path,
    *,
    from_stage: str | None = None,
    only: str | None = None,
    fresh: bool = False,
    force: bool = False,
    job_file: Path | None = None,
) -> State:
    """Run the job; return the final state. UserError for anything the operator can fix."""
    names = spec.stage_names()
    forced = _select(spec, from_stage, only)
    blocked = [(n, r) for n in names if (only is None or n == only) and (r := stages.load(n).unavailable(spec))]
    if blocked:
        name, reason = blocked[0]
        raise UserError(
            f"stage {name} is not available yet: {reason}",
            f"run the stages before it with: stages: [{', '.join(names[: names.index(name)])}]",
        )
    with job_lock(job_dir):
        remove_stale_temps(job_dir)
        if job_file is None or job_file.resolve() != (job_dir / JOB_FILE).resolve():
            write_text_atomic(job_dir / JOB_FILE, render_job(spec))  # a re-runnable copy, paths made absolute
        state = State(job_dir) if fresh else State.load(job_dir)
        events = EventLog(JobFiles(job_dir).events)
        hw = hardware.detect(job_dir)
        ctx = Context(spec=spec, job_dir=job_dir, events=events, state=state, hardware=hw, force=force)
        if fresh:
            _clear_outputs(spec, job_dir)
            state.save()
        pending = [s.name for s in statuses(spec, job_dir, state)
                   if (only is None or s.name == only) and (not s.done or s.name in forced)]
        fit = Preflight(ctx, pending)  # "will not fit" stops here (unless --force), before anything runs
        fit.check()
        if "eval" in pending:  # a bad benchmark file or name stops the job before any model loads
            ctx.stage = "eval"
            stages.load("eval").plan(spec, ctx)
        for status in statuses(spec, job_dir, state):
            name = status.name
            if only is not None and name != only:
                continue
            if status.done and name not in forced:
                events.emit(name, "log", message=f"{name}: done earlier with the same settings, skipped")
                continue
            fit.check()  # a hub model's config.json is known only once download has run
            _run_stage(name, status.key, ctx)
    return state


def _clear_outputs(spec: JobSpec, job_dir: Path) -> None:
    for name in spec.stage_names():
        for path in stages.load(name).outputs(spec, job_dir):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink()
    shutil.rmtree(JobFiles(job_dir).checkpoints_root, ignore_errors=True)


def _run_stage(name: str, key: str, ctx: Context) -> None:
    module = stages.load(name)
    ctx.stage = name
    started = time.time()
    ctx.state.update(name, status="running", key=key, started=round(started, 3), pid=os.getpid(), error=None)
    ctx.emit("stage_start")
    try:
        outputs = module.run(ctx.spec, ctx) or {}
    except UserError as exc:
        _fail(ctx, name, started, exc.lines, user=True)
        raise
    except KeyboardInterrupt:
        _fail(ctx, name, started, ["interrupted"], user=True)
        raise
    except Exception as exc:
        _fail(ctx, name, started, [f"{type(exc).__name__}: {exc}"], user=False, trace=traceback.format_exc())
        raise
    seconds = round(time.time() - started, 3)
    ctx.state.update(name, status="done", outputs=outputs, ended=round(time.time(), 3), seconds=seconds, pid=None)
    ctx.emit("stage_end", status="done", seconds=seconds)


def _fail(ctx: Context, name: str, started: float, lines: list[str], user: bool, trace: str | None = None) -> None:
    seconds = round(time.time() - started, 3)
    ctx.state.update(name, status="failed", error="\n".join(lines), ended=round(time.time(), 3), seconds=seconds, pid=None)
    ctx.emit("error", message="\n".join(lines), user_error=user, **({"traceback": trace} if trace else {}))
    ctx.emit("stage_end", status="failed", seconds=seconds)
