"""The background server as a process: is it alive, is it still ours, stop it, wait for it to answer.

A PID alone is not an identity: after a reboot or a long uptime another program may hold it. The
record in serve.json therefore keeps the process's start time (from /proc) and we also check that
its command line is a server of ours before calling it up — and certainly before killing it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..files import SERVE_FILE

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes via a proxy


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()  # fields after "pid (comm)": state is [0], starttime [19]


def start_time(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat(pid)
    return not (fields and fields[0] in ("Z", "X"))  # a zombie has exited; only its parent has not reaped it


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    except OSError:
        pass
    try:  # no /proc (macOS): ps prints the command line
        out = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return out.split()


def cwd(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")).resolve()
    except OSError:
        return None


def looks_like_server(argv: list[str]) -> bool:
    joined = " ".join(argv)
    return "serve" in argv and ("engine" in joined or "vllm" in joined)


def is_our_server(record: dict[str, Any]) -> bool:
    pid = record.get("pid")
    if not isinstance(pid, int) or pid <= 0 or not alive(pid):
        return False
    recorded = record.get("start_time")
    if recorded is not None and start_time(pid) not in (None, recorded):
        return False  # the PID now belongs to a process that started later
    return looks_like_server(cmdline(pid))


def read_record(job_dir: Path) -> dict[str, Any] | None:
    path = job_dir / SERVE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: unreadable ({exc}); delete it and run the job again") from None
    return data if isinstance(data, dict) else None


def server_up(job_dir: Path) -> bool:
    """What the deploy stage's 'done' means: serve.json names a live server of ours."""
    try:
        record = read_record(job_dir)
    except UserError:
        return False
    return bool(record) and record.get("status") == "running" and is_our_server(record)


def stop(pid: int, grace: float = 10.0) -> str:
    """SIGTERM the server's process group (it leads its own session), SIGKILL what is left after `grace`."""
    def signal_group(sig: int) -> None:
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass

    signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(pid):
            return "stopped"
        time.sleep(0.1)
    signal_group(signal.SIGKILL)
    for _ in range(50):
        if not alive(pid):
            break
        time.sleep(0.1)
    return "killed"


def health(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    try:
        with _NO_PROXY.open(f"{url}/health", timeout=timeout) as resp:
            body = resp.read()
            if resp.status != 200:
                return None
    except (urllib.error.URLError, OSError, ValueError):
        return None
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def log_tail(path: Path | None, lines: int = 12) -> str:
    if path is None or not path.exists():
        return ""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 16384))
        text = fh.read().decode(errors="replace")
    start = text.rfind("\n=== ")  # only this start's lines: the log is appended across restarts
    if start >= 0:
        text = text[start + 1 :]
    return "\n".join(text.splitlines()[-lines:])


def _tail_lines(log_path: Path | None) -> list[str]:
    tail = log_tail(log_path)
    return [f"its log {log_path} ends with:", *(f"  | {line}" for line in tail.splitlines())] if tail else []


def wait_healthy(url: str, proc: subprocess.Popen | None, timeout: float, log_path: Path | None) -> None:
    """Until GET /health answers 200; UserError with the log's tail if the server exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if health(url, timeout=1.0) is not None:
            return
        if proc is not None and proc.poll() is not None:
            raise UserError(
                f"the server exited (status {proc.returncode}) before it answered {url}/health", *_tail_lines(log_path)
            )
        time.sleep(0.25)
    raise UserError(
        f"the server did not answer {url}/health within {timeout:.0f}s; raise deploy.start_timeout if the "
        "model is just slow to load",
        *_tail_lines(log_path),
    )
