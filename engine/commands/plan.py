"""Show what a job will do — stages, inputs, outputs, hardware, memory and disk estimates and whether
it fits this machine — without running it."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from .. import hardware
from ..estimate import for_job, summary_lines
from ..pipeline import job_dir_for, plan_job, statuses
from ..render import load_job


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", type=Path, help="the job's .yaml file")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")


def main(args: argparse.Namespace) -> int:
    spec = load_job(args.job)
    job_dir = job_dir_for(spec, args.job)
    hw = hardware.detect(job_dir)
    plans = plan_job(spec, job_dir, hw)
    done = {s.name: s.done for s in statuses(spec, job_dir)}
    estimate = for_job(spec, job_dir, hw)
    if args.json:
        est = {"available": False, "reason": estimate} if isinstance(estimate, str) else estimate.to_dict()
        print(json.dumps({"job_dir": str(job_dir), "hardware": hw.to_dict(), "estimate": est,
                          "stages": [asdict(p) | {"done": done[p.stage]} for p in plans]}, indent=2))
        return 0
    print(f"job {spec.name} ({spec.task}) → {job_dir}")
    print(f"hardware: {hw.summary()}")
    for i, p in enumerate(plans, 1):
        mark = "done" if done[p.stage] else "todo"
        print(f"{i}. {p.stage:<8} [{mark}] {p.summary}")
        for out in p.outputs:
            print(f"     → {out}")
        if p.estimate:
            print("     estimate: " + ", ".join(f"{k} {v}" for k, v in p.estimate.items()))
        for note in p.notes:
            print(f"     ! {note}")
    print("estimate:")
    lines = [estimate] if isinstance(estimate, str) else summary_lines(estimate)
    for line in lines:
        print(f"  {line}")
    return 0
