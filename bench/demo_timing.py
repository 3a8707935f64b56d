"""Wall time of `./yichuidingyin.sh demo` by stage, read from its events.jsonl (issue 7, benchmarks).

    .venv/bin/python bench/demo_timing.py           # the SmolLM2 demo (target: under 10 minutes on 2 cores)
    .venv/bin/python bench/demo_timing.py --tiny    # the tiny-model demo (target: under a minute)
"""

from __future__ import annotations

import argparse
import json
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        argv = [sys.executable, "-m", "engine", "demo", "--port", "8790", "--jobs-dir", str(work / "jobs")]
        started = time.monotonic()
        proc = subprocess.run([*argv, *(["--tiny"] if args.tiny else [])], cwd=ROOT, capture_output=True, text=True)
        wall = time.monotonic() - started
        job_dir = work / "jobs" / ("demo-tiny" if args.tiny else "demo")
        try:
            events = [json.loads(x) for x in (job_dir / "events.jsonl").read_text().splitlines()]
        finally:
            subprocess.run([sys.executable, "-m", "engine", "stop", str(job_dir)], cwd=ROOT, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"demo failed: {proc.stderr.strip().splitlines()[-1:]}")
    figures = {f"{e['stage']}_s": round(e["seconds"], 1) for e in events if e["kind"] == "stage_end"}
    figures["total_wall_s"] = round(wall, 1)
    answers = [line.strip() for line in proc.stdout.splitlines() if line.strip().startswith("fine-tuned:")]
    report(figures, [f"{'tiny' if args.tiny else 'SmolLM2'} demo; answers: {' | '.join(answers)}"])


if __name__ == "__main__":
    main()
