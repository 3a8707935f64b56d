"""`./yichuidingyin.sh bench`: run every benchmark a few times and rewrite bench/RESULTS.md.

Each script prints `RESULT {json}` last (bench/_common.py); this collects min/median/max per
figure over the repeats and records the machine, versions and date beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# (script, repeats, what it measures). Slow ones run fewer times.
SUITE: list[tuple[str, int, str]] = [
    ("cli_latency.py", 3, "validate / plan latency from process start"),
    ("wizard_startup.py", 3, "wizard: process start to first screen, and import time"),
    ("refusal_latency.py", 1, "junk/hostile job files: time to refuse; export heartbeat latency"),
    ("train_overhead.py", 1, "training: engine vs a hand-written torch+peft loop (steps/s ratio), time to first step"),
    ("peer_ms_swift.py", 1, "training beside ms-swift 4.6 on the same job (needs .venv-peers: peer_ms_swift.py --with-peers)"),
    ("qlora_memory.py", 1, "peak memory: QLoRA vs LoRA on the same model"),
    ("serve.py", 3, "serving: tokens/s and first-token latency vs raw generate"),
    ("vlm.py", 3, "vision-language: training s/step engine vs hand loop; image request latency, server vs raw generate"),
    ("export.py", 1, "AWQ export: size and quality vs the merged model"),
    ("eval.py", 1, "eval: 200 multiple-choice items, batched vs one request at a time (throughput ratio)"),
    ("demo_timing.py", 1, "demo wall time by stage"),
]
# Only with --with-peers (they need .venv-peers/, which that flag lets them create; never installed by default).
PEER_SUITE: list[tuple[str, int, str]] = [
    ("peer_varlen.py", 1, "variable-length rows (20–1,000 tokens) beside ms-swift: trained tokens/s"),
    ("peer_dpo.py", 1, "DPO beside ms-swift (`swift rlhf --rlhf_type dpo`): steady s/step on the same pairs"),
]
PACKAGES = ["torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes", "llmcompressor", "textual", "fastapi"]


def run_script(name: str, *argv: str) -> dict | None:
    path = HERE / name
    if not path.exists():
        return None
    proc = subprocess.run([sys.executable, str(path), *argv], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit {proc.returncode}"}
    return json.loads(lines[-1][len("RESULT "):])


def summarise(runs: list[dict]) -> tuple[list[str], list[str]]:
    figures: dict[str, list] = {}
    notes: list[str] = []
    for run in runs:
        for key, value in run.get("figures", {}).items():
            figures.setdefault(key, []).append(value)
        notes.extend(n for n in run.get("notes", []) if n not in notes)
    rows = []
    for key, values in figures.items():
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) == len(values) and numbers:
            rows.append(f"| {key} | {min(numbers):.4g} | {statistics.median(numbers):.4g} | {max(numbers):.4g} | {len(numbers)} |")
        else:
            rows.append(f"| {key} | {values[-1]} | | | {len(values)} |")
    return rows, notes


def machine() -> list[str]:
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    sys.path.insert(0, str(ROOT))
    from engine.hardware import detect

    return [
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {platform.machine()}, {detect().summary()}",
        f"- python {platform.python_version()}; " + ", ".join(versions),
    ]


GPU_TITLE = "## GPU check"


def earlier_sections(path: Path) -> dict[str, list[str]]:
    """The `## …` sections of an existing RESULTS.md: a script's by its name (kept by --only runs), a section
    written by hand (a record of demo runs, a gate on a real job) by its whole title, kept by every run."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        if line.startswith("## "):
            name = line[3:].split(" ", 1)[0]
            current = None if line.startswith(GPU_TITLE) else found.setdefault(name if name.endswith(".py") else line, [])
        if current is not None:
            current.append(line)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="script names to run (default: all)")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--with-peers", action="store_true",
                        help="also run the ms-swift comparisons of PEER_SUITE (creates .venv-peers/ if needed)")
    args = parser.parse_args()
    suite = SUITE + (PEER_SUITE if args.with_peers else [])
    peer_names = {script for script, _, _ in PEER_SUITE}
    sections = ["# Benchmark results", "", "Written by `./yichuidingyin.sh bench` (bench/run_all.py).", "", *machine(), ""]
    earlier = earlier_sections(args.out)
    kept = earlier if args.only else {}
    for script, repeats, what in suite:
        if args.only and script not in args.only:
            sections += kept.get(script, [])  # --only: the other scripts' sections stay as they were
            continue
        print(f"[bench] {script} × {repeats}", flush=True)
        extra = ("--with-peers",) if script in peer_names else ()
        runs = [r for r in (run_script(script, *extra) for _ in range(repeats)) if r is not None]
        sections += [f"## {script} — {what}", ""]
        if not runs:
            sections += ["not present in this version.", ""]
            continue
        errors = [r["error"] for r in runs if "error" in r]
        good = [r for r in runs if "error" not in r]
        if good:
            rows, notes = summarise(good)
            sections += ["| figure | min | median | max | runs |", "|---|---|---|---|---|", *rows, ""]
            sections += [f"- {n}" for n in notes] + ([""] if notes else [])
        for err in errors:
            sections += [f"- failed: {err}", ""]
    if not args.with_peers:  # the peer comparisons' last figures stay until they are measured again
        for script, _, _ in PEER_SUITE:
            sections += earlier.get(script, [])
    for title, lines in earlier.items():  # records written by hand are not a script's to overwrite
        if not title.endswith(".py"):
            sections += lines
    gpu = HERE / "GPU.md"
    sections += [f"{GPU_TITLE} (bench/gpu_check.sh on a lent GPU)", ""]
    if gpu.exists():
        sections += [gpu.read_text().strip(), ""]
    else:
        sections += ["Not run yet: no GPU was lent to the sessions so far. `bash bench/gpu_check.sh` on an NVIDIA",
                     "machine writes bench/GPU.md, which this file then includes.", ""]
    args.out.write_text("\n".join(sections).rstrip() + "\n")
    print(f"[bench] wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
