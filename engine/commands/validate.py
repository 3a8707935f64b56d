"""Check a job file: every problem as one `file:line: field: message` line, exit 2 if any."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..render import load_job


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", type=Path, help="the job's .yaml file")


def main(args: argparse.Namespace) -> int:
    spec = load_job(args.job)
    print(f"{args.job}: ok — job {spec.name!r}, task {spec.task}, stages: {', '.join(spec.stage_names())}")
    return 0
