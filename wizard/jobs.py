"""Job folders as the wizard sees them: where a job file goes, saving it, planning it, and starting,
finding and stopping its runner — always `python -m engine` in a separate process, argv lists only.

The runner is started in its own session (start_new_session), so closing the terminal or the
TUI does not stop it; whether it is still running is read from the engine's own lock
(jobs/<name>/.lock, flock-ed by the runner, holding its pid), so a reopened wizard finds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from engine.files import EVAL_TABLE, JOB_FILE, RUN_LOG, JobFiles

from . import i18n

ROOT = Path(__file__).resolve().parent.parent


def jobs_root() -> Path:
    return Path(os.environ.get("YCDY_JOBS_DIR") or Path.cwd() / "jobs").expanduser().resolve()


def job_file(name: str) -> Path:
    return jobs_root() / name / JOB_FILE


def shown(path: Path) -> str:
    """A path as the operator thinks of it: relative to the current folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def engine_env() -> dict[str, str]:
    """The environment for an engine subprocess: this project importable wherever the wizard runs."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env["YCDY_JOBS_DIR"] = str(jobs_root())
    return env


def save(text: str, name: str) -> Path:
    """Write the rendered job file (exactly `text`) to jobs/<name>/job.yaml, atomically."""
    path = job_file(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".job.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def runner_pid(job_dir: Path) -> int | None:
    """The pid of the `engine run` holding this job's lock, or None when nobody runs it."""
    lock = JobFiles(job_dir).lock
    if not lock.exists():
        return None
    with open(lock) as fh:  # never "w": that would truncate the pid the runner wrote
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = fh.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fh, fcntl.LOCK_UN)
    return None


class Plan:
    """`python -m engine plan FILE --json` on a temporary copy of the job, killable from the UI."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.proc: subprocess.Popen[str] | None = None

    def run(self, timeout: float = 60) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="ycdy-plan-") as tmp:
            path = Path(tmp) / "plan.yaml"
            path.write_text(self.text, encoding="utf-8")
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "engine", "plan", str(path), "--json"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env=engine_env(), cwd=Path.cwd(),
            )
            try:
                out, err = self.proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, err = self.proc.communicate()
                return {"error": [f"plan took longer than {timeout:.0f} s"]}
        if self.proc.returncode != 0:
            lines = [line.removeprefix("error: ") for line in err.strip().splitlines() if line.strip()]
            return {"error": lines[-20:] or [f"plan exited with {self.proc.returncode}"]}
        try:
            return json.loads(out)
        except json.JSONDecodeError:
            return {"error": ["plan printed something that is not JSON", *out.splitlines()[:5]]}

    def cancel(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()


def start_run(path: Path) -> subprocess.Popen[bytes]:
    """Start `python -m engine run FILE` detached; its output goes to jobs/<name>/run.log."""
    log = open(path.parent / RUN_LOG, "ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "engine", "run", str(path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=engine_env(), cwd=path.parent, start_new_session=True,
        )
    finally:
        log.close()


def stop_run(pid: int, hard: bool = False) -> None:
    """Ask the runner to stop as Ctrl+C would (it records the interruption and can resume), or kill it."""
    sig = signal.SIGTERM if hard else signal.SIGINT
    try:
        if os.getpgid(pid) == pid:  # our runner leads its own group: reach its workers too
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def log_tail(job_dir: Path, lines: int = 4) -> list[str]:
    """The last lines the runner printed (run.log): what to show when it failed before any event."""
    try:
        text = (job_dir / RUN_LOG).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.strip().splitlines() if line.strip()][-lines:]


def eval_table(job_dir: Path) -> list[str]:
    """The eval stage's table (jobs/<name>/eval/report.md: base / fine-tuned / export), or [] before it exists."""
    path = JobFiles(job_dir).stage_dir("eval") / EVAL_TABLE
    try:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    except OSError:
        return []


def read_serve(job_dir: Path) -> dict[str, Any] | None:
    """serve.json written by the deploy stage, or None while there is none."""
    try:
        data = json.loads(JobFiles(job_dir).serve.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def serve_url(info: dict[str, Any]) -> str:
    """The OpenAI base URL (…/v1) from serve.json (written by the deploy stage)."""
    if info.get("base_url"):
        return str(info["base_url"]).rstrip("/")
    url = str(info.get("url") or f"http://{info.get('host', '127.0.0.1')}:{info.get('port', 8000)}").rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def curl_example(info: dict[str, Any], default_model: str) -> str:
    """One line an operator can paste; the key is referenced as $VARIABLE, never written out."""
    body = json.dumps({"model": info.get("model") or default_model,
                       "messages": [{"role": "user", "content": "Hello! Who are you?"}], "max_tokens": 64},
                      ensure_ascii=False)
    auth = f' -H "Authorization: Bearer ${info.get("api_key_env") or "YCDY_API_KEY"}"' if info.get("auth") else ""
    return f"curl {serve_url(info)}/chat/completions -H 'Content-Type: application/json'{auth} -d '{body}'"


def plan_lines(plan: dict[str, Any]) -> list[str]:
    if "error" in plan:
        return [i18n.t("review.plan_failed"), *("  " + line for line in plan["error"])]
    lines = []
    notes = 0
    for i, stage in enumerate(plan.get("stages", []), 1):
        done = " ✓" if stage.get("done") else ""
        lines.append(f"{i}. {stage.get('stage')}{done}: {stage.get('summary', '')}")
        estimate = stage.get("estimate") or {}
        if estimate:
            lines.append("   " + ", ".join(f"{k} {v}" for k, v in estimate.items()))
        for note in stage.get("notes") or []:
            notes += 1
            lines.append(f"   ! {note}")
    verdict = plan.get("verdict")
    if isinstance(verdict, dict):
        verdict = verdict.get("summary") or verdict.get("verdict")
    if not verdict:
        verdict = "ready" if not notes else f"{notes} note(s) above"
    return [i18n.t("review.verdict", text=verdict), *lines]
