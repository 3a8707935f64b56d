"""deploy: serve the job's newest model as an OpenAI-compatible API in a background process.

The server runs as `python -m engine serve DIR ...` in its own session (so the end of `run`, a
closed terminal or Ctrl-C in the shell does not take it down), logging to jobs/<name>/serve.log.
serve.json records where it listens and which process it is. "Done" means more than "serve.json
exists": the process it names must still be our server (current()), so running the job again after
a reboot or a crash starts it again, and a changed deploy setting restarts it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..context import Context, StagePlan, model_source
from ..errors import UserError
from ..files import SERVE_FILE, SERVE_LOG
from ..serve import process
from ..serve.examples import ready_text
from ..serve.settings import ServeSettings, check_model_dir, is_loopback, port_problem, security_problems
from ..spec import JobSpec
from ..util.fs import write_json_atomic

NAME = "deploy"
ROOT = Path(__file__).resolve().parents[2]  # the folder that holds the engine package


def spec_slice(spec: JobSpec) -> Any:
    return {**spec.deploy.model_dump(mode="json"), "served": spec.served_name(),
            "trust_remote_code": spec.model.trust_remote_code}


def outputs(spec: JobSpec, job_dir: Path) -> list[Path]:
    return [job_dir / SERVE_FILE]


def current(spec: JobSpec, job_dir: Path) -> bool:
    """Outputs exist but the server they describe may have died: then the stage is not done."""
    return process.server_up(job_dir)


def unavailable(spec: JobSpec) -> str | None:
    return None


def _settings(spec: JobSpec, model_dir: Path, backend: str) -> ServeSettings:
    d = spec.deploy
    return ServeSettings(
        model_dir=model_dir, served_name=spec.served_name(), host=d.host, port=d.port, api_key_env=d.api_key_env,
        max_queue=d.max_queue, insecure=d.insecure, trust_remote_code=spec.model.trust_remote_code, backend=backend,
        allow_remote_images=d.allow_remote_images, max_image_bytes=d.max_image_bytes,
        max_image_pixels=d.max_image_pixels, max_images=d.max_images,
    )


def _security(settings: ServeSettings) -> list[str]:
    return security_problems(settings, host_field="deploy.host", insecure_hint="set deploy.insecure: true")


def plan(spec: JobSpec, ctx: Context) -> StagePlan:
    from ..serve.vllm import vllm_available

    backend = spec.deploy.backend
    if backend == "auto":
        backend = "vllm" if vllm_available() else "builtin"
    model_dir = _planned_model_dir(spec, ctx)
    settings = _settings(spec, model_dir, backend)
    notes = _security(settings)
    if spec.deploy.backend == "vllm" and not vllm_available():
        notes.append("deploy.backend: vllm is not installed here; use auto or builtin, or install vllm")
    if not process.server_up(ctx.job_dir):
        problem = port_problem(settings.host, settings.port, "deploy.port")
        if problem:
            notes.append(problem)
    where = f"{settings.url}/v1" + ("" if is_loopback(settings.host) else f", listening on {settings.host}")
    return StagePlan(
        NAME,
        f"serve {model_dir} as '{settings.served_name}' at {where} ({backend}, in the background; "
        "stop it with ./yichuidingyin.sh stop JOB_DIR)",
        [str(ctx.job_dir / SERVE_FILE), str(ctx.job_dir / SERVE_LOG)],
        notes=notes,
    )


def _planned_model_dir(spec: JobSpec, ctx: Context) -> Path:
    """What ctx.model_dir() will be once the earlier stages ran (plan runs before they have)."""
    source = model_source(spec, ctx.earlier())
    if source is not None and source != "download":
        return ctx.files.stage_dir(source)
    try:
        return ctx.base_model_dir()
    except UserError:
        return Path(spec.model.id) if spec.model.hub == "local" else Path(f"<{spec.model.id}, once downloaded>")


def _server_argv(settings: ServeSettings, start_timeout: int) -> list[str]:
    argv = [
        sys.executable, "-m", "engine", "serve", str(settings.model_dir),
        "--host", settings.host, "--port", str(settings.port), "--api-key-env", settings.api_key_env,
        "--served-model-name", settings.served_name, "--max-queue", str(settings.max_queue),
        "--backend", settings.backend, "--start-timeout", str(start_timeout),
        "--max-image-bytes", str(settings.max_image_bytes), "--max-image-pixels", str(settings.max_image_pixels),
        "--max-images", str(settings.max_images),
    ]
    if settings.allow_remote_images:
        argv.append("--allow-remote-images")
    if settings.insecure:
        argv.append("--insecure")
    if settings.trust_remote_code:
        argv.append("--trust-remote-code")
    return argv


def _stop_earlier(ctx: Context) -> None:
    """A server this job started before (other settings, or serve.json lost to --fresh) gives way."""
    record = process.read_record(ctx.job_dir)
    if record and process.is_our_server(record):
        ctx.log(f"stopping the server this job started earlier (pid {record['pid']}) to start it with these settings")
        process.stop(int(record["pid"]))
        return
    # serve.json gone (run --fresh) but a server of this job still holds the port: it says its pid.
    url = _settings(ctx.spec, Path("."), "builtin").url
    pid = (process.health(url, timeout=1.0) or {}).get("pid")
    if isinstance(pid, int) and process.looks_like_server(process.cmdline(pid)) and process.cwd(pid) == ctx.job_dir.resolve():
        ctx.log(f"stopping the server this job started earlier (pid {pid}), found on {url}")
        process.stop(pid)


def run(spec: JobSpec, ctx: Context) -> dict[str, Any]:
    from ..serve.vllm import resolve_backend

    backend = resolve_backend(spec.deploy.backend, field="deploy.backend")
    model_dir = ctx.model_dir()
    settings = _settings(spec, model_dir, backend)
    problems = check_model_dir(model_dir) + _security(settings)
    if problems:
        raise UserError(*problems)
    _stop_earlier(ctx)
    problem = port_problem(settings.host, settings.port, "deploy.port")
    if problem:
        raise UserError(problem)
    log_path = ctx.job_dir / SERVE_LOG
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    with open(log_path, "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} deploy: starting the server ===\n".encode())
        log.flush()
        proc = subprocess.Popen(
            _server_argv(settings, spec.deploy.start_timeout), stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, cwd=ctx.job_dir, env=env, start_new_session=True, close_fds=True,
        )
    record = {
        "status": "starting", "url": settings.url, "base_url": f"{settings.url}/v1", "model": settings.served_name,
        "model_dir": str(model_dir), "backend": backend, "host": settings.host, "port": settings.port,
        "pid": proc.pid, "start_time": process.start_time(proc.pid), "started_at": round(time.time(), 3),
        "api_key_env": settings.api_key_env, "auth": bool(os.environ.get(settings.api_key_env)),
        "log": str(log_path),
    }
    serve_json = ctx.job_dir / SERVE_FILE
    write_json_atomic(serve_json, record)
    ctx.log(f"server starting (pid {proc.pid}, log {log_path}); waiting for {settings.url}/health")
    try:
        process.wait_healthy(settings.url, proc, spec.deploy.start_timeout, log_path)
    except BaseException:
        if proc.poll() is None:
            process.stop(proc.pid, grace=5)
        record.update(status="failed", stopped_at=round(time.time(), 3))
        write_json_atomic(serve_json, record)
        raise
    record["status"] = "running"
    write_json_atomic(serve_json, record)
    ctx.log(ready_text(settings, auth=record["auth"]))
    ctx.log(f"stop it with: ./yichuidingyin.sh stop {ctx.job_dir}")
    return {"url": record["base_url"], "model": settings.served_name, "pid": proc.pid, "serve_json": str(serve_json)}
