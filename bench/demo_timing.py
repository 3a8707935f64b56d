"""Wall time of `./yichuidingyin.sh demo` by stage, read from its events.jsonl (issue 7, benchmarks).

    .venv/bin/python bench/demo_timing.py           # the SmolLM2 demo (target: under 10 minutes on 2 cores)
    .venv/bin/python bench/demo_timing.py --tiny    # the tiny-model demo (target: under a minute)
    .venv/bin/python bench/demo_timing.py --runs 3  # issue 14: does the served model name itself, 3 runs of 3?

Per run: seconds per stage, the eval stage's share of the rest (issue 14 asks that eval add ≤ 20 %), and
how many held-out identity questions the served model answered with its new name, per language (the
demo's own "names itself in N of 6" lines).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    for run in range(1, args.runs + 1):
        one(args, run)


def one(args: argparse.Namespace, run: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        argv = [sys.executable, "-m", "engine", "demo", "--port", "8790", "--jobs-dir", str(work / "jobs")]
        started = time.monotonic()
        proc = subprocess.run([*argv, *(["--tiny"] if args.tiny else [])], cwd=ROOT, capture_output=True, text=True)
        wall = time.monotonic() - started
        job_dir = work / "jobs" / ("demo-tiny" if args.tiny else "demo")
        try:
            events = [json.loads(x) for x in (job_dir / "events.jsonl").read_text().splitlines()]
            report_file = job_dir / "export" / "report.json"
            ladder = json.loads(report_file.read_text()).get("ladder") or [] if report_file.exists() else []
            shipped = " → ".join(f"{t['candidate']} {'kept' if t['passed'] else 'rejected'}" for t in ladder)
        finally:
            subprocess.run([sys.executable, "-m", "engine", "stop", str(job_dir)], cwd=ROOT, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"demo failed: {proc.stderr.strip().splitlines()[-1:]}")
    figures = {f"{e['stage']}_s": round(e["seconds"], 1) for e in events if e["kind"] == "stage_end"}
    figures["total_wall_s"] = round(wall, 1)
    figures["run"] = run
    if "eval_s" in figures:
        figures["eval_share_of_rest"] = round(figures["eval_s"] / max(wall - figures["eval_s"], 1e-9), 3)
    for lang, named, asked in re.findall(r"(English|Chinese): names itself in (\d+) of (\d+)", proc.stdout):
        figures[f"identity_{'en' if lang == 'English' else 'zh'}"] = f"{named}/{asked}"
    answers = [line.strip() for line in proc.stdout.splitlines() if line.strip().startswith("fine-tuned:")]
    report(figures, [f"{'tiny' if args.tiny else 'SmolLM2'} demo; answers: {' | '.join(answers)}",
                     f"export candidates: {shipped or 'one try'}"])


if __name__ == "__main__":
    main()
