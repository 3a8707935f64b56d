"""Run a job headless. Stages already done with the same settings are skipped; an interrupted one resumes."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..files import JobFiles
from ..pipeline import job_dir_for, run_job
from ..progress import Follower
from ..render import load_job
from ..spec.stages import ORDER, STAGES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", type=Path, help="the job's .yaml file")
    p.epilog = "stages, in order: " + "; ".join(f"{s.name} ({s.summary})" for s in STAGES)
    p.add_argument("--from", dest="from_stage", choices=ORDER, help="rerun this stage and every stage after it")
    p.add_argument("--only", choices=ORDER, help="run just this stage (earlier ones must be done)")
    p.add_argument("--fresh", action="store_true", help="forget earlier results and run every stage again")
    p.add_argument("--force", action="store_true", help="run even if the estimate says the job will not fit")
    p.add_argument("--jobs-dir", type=Path, help="where jobs/<name>/ folders go (default ./jobs)")


def main(args: argparse.Namespace) -> int:
    spec = load_job(args.job)
    job_dir = job_dir_for(spec, args.job, args.jobs_dir)
    print(f"job {spec.name}: {', '.join(spec.stage_names())} → {job_dir}", flush=True)
    with Follower(JobFiles(job_dir).events):
        run_job(spec, job_dir, from_stage=args.from_stage, only=args.only, fresh=args.fresh,
                force=args.force, job_file=args.job)
    print(f"job {spec.name}: finished; outputs in {job_dir}")
    return 0
