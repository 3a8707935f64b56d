"""Stop the server a job's deploy stage started: SIGTERM, then SIGKILL after a grace period.

The PID in serve.json is checked first (start time and command line): a PID that now belongs to
some other program is never signalled.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..errors import UserError
from ..files import SERVE_FILE
from ..serve.process import alive, is_our_server, read_record, stop
from ..util.fs import write_json_atomic


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_dir", type=Path, help="the job's folder, jobs/<name>/ (or its job.yaml)")
    p.add_argument("--grace", type=float, default=10.0, help="seconds to wait after SIGTERM before SIGKILL")


def main(args: argparse.Namespace) -> int:
    job_dir: Path = args.job_dir
    if job_dir.is_file() and job_dir.suffix in (".yaml", ".yml"):
        job_dir = job_dir.parent
    record = read_record(job_dir)
    if record is None:
        raise UserError(f"{job_dir}: no {SERVE_FILE} here; this job has not deployed a server (stage deploy)")
    pid = record.get("pid")
    url = record.get("url", "?")
    if is_our_server(record):
        how = stop(int(pid), grace=args.grace)
        print(f"server at {url} (pid {pid}) {how}")
    elif isinstance(pid, int) and alive(pid):
        print(f"pid {pid} is no longer this job's server (another program has it now); nothing was signalled")
    else:
        print(f"server at {url} was not running")
    record.update(status="stopped", stopped_at=round(time.time(), 3))
    write_json_atomic(job_dir / SERVE_FILE, record)
    return 0
