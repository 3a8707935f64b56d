"""How fast the wizard's first screen appears, against the 0.5 s target (issue 6).

Prints three figures, each the median of several runs in fresh processes:
  import   — `import wizard.app` (what `python -m wizard` loads before drawing), from -X importtime
  pilot    — process start to the Task screen mounted, headless (App.run_test), in a child process
  tmux     — process start to the first screen's title visible in an 80×24 tmux pane (a real
             terminal), polled with capture-pane every 10 ms; skipped when tmux is missing

Run: .venv/bin/python bench/wizard_startup.py [--runs N]; the last line is `RESULT {json}` (bench/_common.py)
for bench/run_all.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import report  # noqa: E402

TARGET_S = 0.5
PY = sys.executable

PILOT = """
import time, asyncio
from wizard.app import WizardApp
async def main():
    app = WizardApp()
    async with app.run_test(size=(80, 24)) as pilot:
        while app.screen.id != "step-task":
            await asyncio.sleep(0.005)
        print(time.time())
asyncio.run(main())
"""


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "YCDY_LANG": "en"}


def import_time() -> float:
    out = subprocess.run([PY, "-X", "importtime", "-c", "import wizard.app"], capture_output=True, text=True,
                         env=env(), cwd=ROOT, check=True).stderr
    cumulative = [int(line.split("|")[1]) for line in out.splitlines() if line.rstrip().endswith(" wizard.app")]
    return cumulative[-1] / 1e6


def pilot_time() -> float:
    started = time.time()
    out = subprocess.run([PY, "-c", PILOT], capture_output=True, text=True, env=env(), cwd=ROOT, check=True).stdout
    return float(out.strip().splitlines()[-1]) - started


def tmux_time(workdir: Path) -> float | None:
    if shutil.which("tmux") is None:
        return None
    session = f"ycdy-bench-{os.getpid()}"
    command = f"cd {workdir} && PYTHONPATH={ROOT} YCDY_LANG=en exec {PY} -m wizard"
    started = time.monotonic()
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command], check=True)
    try:
        while time.monotonic() - started < 10:
            screen = subprocess.run(["tmux", "capture-pane", "-t", session, "-p"], capture_output=True, text=True).stdout
            if "step 1 of" in screen and "Fine-tune" in screen:
                return time.monotonic() - started
            time.sleep(0.01)
        return None
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import_time()  # warm the bytecode cache once
    imports = [import_time() for _ in range(args.runs)]
    pilots = [pilot_time() for _ in range(args.runs)]
    with tempfile.TemporaryDirectory() as tmp:
        tmuxes = [t for _ in range(args.runs) if (t := tmux_time(Path(tmp))) is not None]
    print(f"wizard start-up, median of {args.runs} runs (target: first screen in < {TARGET_S} s)")
    print(f"  import wizard.app             {statistics.median(imports):.3f} s")
    print(f"  first screen, headless Pilot  {statistics.median(pilots):.3f} s  (process start → Task screen)")
    if tmuxes:
        verdict = "meets" if statistics.median(tmuxes) < TARGET_S else "MISSES"
        print(f"  first screen, tmux 80x24      {statistics.median(tmuxes):.3f} s  ({verdict} the target; "
              f"min {min(tmuxes):.3f}, max {max(tmuxes):.3f})")
    else:
        print("  first screen, tmux            skipped (tmux not installed)")
    figures: dict[str, float | None] = {
        "import_wizard_app_s_median": round(statistics.median(imports), 3),
        "first_screen_pilot_s_median": round(statistics.median(pilots), 3),
        "first_screen_tmux_s_median": round(statistics.median(tmuxes), 3) if tmuxes else None,
        "target_s": TARGET_S,
    }
    report(figures, [] if tmuxes else ["tmux not installed: the real-terminal figure was skipped"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
