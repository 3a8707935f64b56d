"""What each stage of a job did: status, time, outputs, and the last error."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..errors import UserError
from ..files import EVAL_TABLE, LOSS_PLOT, STATE_FILE, JobFiles
from ..spec import ORDER
from ..state import State


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_dir", type=Path, help="the job's folder, jobs/<name>/")
    p.add_argument("--json", action="store_true", help="print state.json as it is")


def main(args: argparse.Namespace) -> int:
    job_dir: Path = args.job_dir
    if job_dir.is_file() and job_dir.suffix in (".yaml", ".yml"):
        job_dir = job_dir.parent
    if not (job_dir / STATE_FILE).exists():
        raise UserError(f"{job_dir}: no {STATE_FILE} here; give a job folder (jobs/<name>/) that has been run")
    state = State.load(job_dir)
    if args.json:
        print(json.dumps(state.data, indent=2, ensure_ascii=False))
        return 0
    print(f"job folder {job_dir}")
    records = state.data["stages"]
    for name in sorted(records, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER)):
        record = records[name]
        status = record.get("status", "?")
        seconds = record.get("seconds")
        took = f" in {seconds:.1f}s" if isinstance(seconds, int | float) else ""
        print(f"  {name:<8} {status}{took}")
        for key, value in (record.get("outputs") or {}).items():
            if key in ("path", "url", "manifest"):
                print(f"           {key}: {value}")
        folder = (record.get("outputs") or {}).get("path")
        if folder and (Path(str(folder)) / LOSS_PLOT).is_file():
            print(f"           loss picture: {Path(str(folder)) / LOSS_PLOT}")
        if record.get("error"):
            print(f"           error: {record['error'].splitlines()[0]}")
    _eval_table(job_dir)
    _server_line(job_dir)
    updated = state.data.get("updated")
    if updated:
        print(f"last update {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(updated))}")
    return 0


def _server_line(job_dir: Path) -> None:
    """Whether the server the deploy stage started (serve.json) is still up."""
    from ..serve.process import is_our_server, read_record

    record = read_record(job_dir)
    if not record:
        return
    url, pid = record.get("base_url") or record.get("url"), record.get("pid")
    if record.get("status") == "running" and is_our_server(record):
        print(f"server   up at {url} (model {record.get('model')}, pid {pid}); stop: ./yichuidingyin.sh stop {job_dir}")
    elif record.get("status") == "stopped":
        print(f"server   stopped (was at {url}); run the job again to start it")
    else:
        print(f"server   down (was at {url}, pid {pid}); run the job again to restart it; log: {record.get('log')}")


def _eval_table(job_dir: Path) -> None:
    """The eval stage's table (base / fine-tuned / export), when the job has scored its models."""
    table = JobFiles(job_dir).stage_dir("eval") / EVAL_TABLE
    if not table.is_file():
        return
    print(f"eval     {table}")
    for line in table.read_text(encoding="utf-8").splitlines():
        if line.startswith("|"):
            print(f"  {line}")
