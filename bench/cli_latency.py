"""How long `validate` and `plan` take from process start, the way an operator runs them.

Ratio-free on purpose: these are absolute latencies with the 1-second target of the foundation issue.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import report  # noqa: E402
from tests.helpers.jobs import tiny_job, toy_sft_rows, write_job, write_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def timed(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine", *args], cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def main(repeats: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = work / "model"
        subprocess.run([sys.executable, "-m", "engine", "tiny", str(model)], cwd=ROOT, check=True, capture_output=True)
        data = write_jsonl(work / "toy.jsonl", toy_sft_rows())
        job = write_job(work / "job.yaml", tiny_job(model, data))
        validate = [timed(["validate", str(job)], ROOT) for _ in range(repeats)]
        plan = [timed(["plan", str(job)], ROOT) for _ in range(repeats)]
    report(
        {
            "validate_s_median": round(statistics.median(validate), 3),
            "plan_s_median": round(statistics.median(plan), 3),
            "target_s": 1.0,
        }
    )


if __name__ == "__main__":
    main()
