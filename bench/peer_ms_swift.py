"""This project beside ms-swift on the same job (issue 15): steady s/step, wall time, time to first step.

    .venv/bin/python bench/peer_ms_swift.py --with-peers   # creates .venv-peers/ with ms-swift 4.6 first

ms-swift is not a dependency: with --with-peers, bench/peers.py builds a side venv (.venv-peers/,
gitignored) that reuses this project's torch and installs `ms-swift==4.6.*` (with its own TRL) there.
If it cannot install, one line says why and the script exits 0; without the flag and without that
venv it only says how to run it. The job is issue 15's (SmolLM2-135M builtin, LoRA r8/α32/0.05 on
q_proj,v_proj, fp32, batch 4, accum 1, max_length 128, 20 steps, 120 rows of ~110 tokens, all
shorter than max_length: ms-swift drops longer rows by default, so only rows that fit are compared).
Both run as fresh processes from here, one after the other (`--rounds` alternates the order).
"""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import peers  # noqa: E402
from bench._common import report  # noqa: E402
from bench.train_overhead import job_dict, model_folder, rate, rows, spawn  # noqa: E402

REQUIREMENT = "ms-swift==4.6.*"


def swift_run(model: Path, data: Path, out: Path, a: argparse.Namespace, *, command: str = "sft",
              extra: tuple[str, ...] = (), count_tokens: bool = False) -> dict:
    """`swift sft` (or `swift rlhf` with `extra`) on the same job; a step is done when its log line
    (global_step/max_steps) is printed. `logs` holds each step's logged dict (loss, ...); with
    count_tokens, bench/swift_tokens.py runs it and each also carries num_input_tokens_seen (non-padding)."""
    launcher = ([str(peers.PY), str(Path(__file__).with_name("swift_tokens.py"))] if count_tokens
                else [str(peers.PEERS / "bin" / "swift")])
    # SmolLM2 is a Llama with a ChatML template; ms-swift cannot tell which of its Llama types it is.
    argv = [*launcher, command, "--model", str(model), "--model_type", "llama",
            "--template", "chatml", "--dataset", str(data),
            "--tuner_type", "lora", "--lora_rank", str(a.r), "--lora_alpha", str(4 * a.r), "--lora_dropout", "0.05",
            "--target_modules", "q_proj", "v_proj", "--torch_dtype", "float32",
            "--per_device_train_batch_size", str(a.batch), "--gradient_accumulation_steps", "1",
            "--max_length", str(a.length), "--max_steps", str(a.steps), "--logging_steps", "1",
            "--save_steps", str(10 * a.steps), "--learning_rate", "1e-4", "--warmup_ratio", "0",
            "--lr_scheduler_type", "constant", "--report_to", "none", "--dataloader_num_workers", "0",
            "--split_dataset_ratio", "0", "--output_dir", str(out), *extra]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "MODELSCOPE_OFFLINE": "1"}
    started = time.time()
    steps: list[float] = []
    logs: list[dict] = []
    tail: list[str] = []
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "global_step/max_steps" in line and "'loss'" in line:
                steps.append(time.time())
                logs.append(_logged(line))
            tail = (tail + [line.rstrip()])[-5:]
    if proc.returncode != 0 or not steps:
        raise SystemExit(f"swift {command} failed: " + " | ".join(tail))
    return {"step_times": steps, "logs": logs, "start": started, "wall": time.time() - started}


def _logged(line: str) -> dict:
    """The dict ms-swift prints for a step (a Python repr), or {} when it does not parse."""
    try:
        found = ast.literal_eval(line[line.index("{"): line.rindex("}") + 1])
    except (ValueError, SyntaxError):
        return {}
    return found if isinstance(found, dict) else {}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--with-peers", action="store_true", help=f"create .venv-peers/ with {REQUIREMENT} if needed")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--r", type=int, default=8)
    p.add_argument("--rounds", type=int, default=1)
    a = p.parse_args()
    a.random = False
    why = peers.swift_missing(REQUIREMENT, create=a.with_peers)
    if why:
        report({}, [f"skipped: {why}"])
        return 0

    with tempfile.TemporaryDirectory(prefix="ycdy-peer-") as tmp:
        work = Path(tmp)
        model, model_name = model_folder(a, work)
        data = peers_rows(work, a)
        from tests.helpers.jobs import write_job

        job = job_dict(model, data, a)
        job["train"]["assistant_only_loss"] = True  # as ms-swift's default: the loss on the answer only
        job_file = write_job(work / "overhead.yaml", job)
        ours, theirs = [], []
        for i in range(a.rounds):
            for which in (("ours", "swift") if i % 2 == 0 else ("swift", "ours")):
                t0 = time.time()
                if which == "ours":
                    run = spawn(["--child", "engine", "--paths", str(job_file), str(work / "jobs")])
                    run["wall"] = time.time() - t0
                    ours.append(run)
                else:
                    theirs.append(swift_run(model, data, work / f"swift-{i}", a))
    ours_rate = statistics.median(rate(r, a.warmup)[0] for r in ours)
    swift_rate = statistics.median(rate(r, a.warmup)[0] for r in theirs)
    figures = {
        "ours_s_per_step": round(1 / ours_rate, 3), "ms_swift_s_per_step": round(1 / swift_rate, 3),
        "step_time_ours_over_ms_swift": round(swift_rate / ours_rate, 3),
        "ours_wall_s": round(statistics.median(r["wall"] for r in ours), 1),
        "ms_swift_wall_s": round(statistics.median(r["wall"] for r in theirs), 1),
        "ours_first_step_s": round(statistics.median(rate(r, a.warmup)[1] for r in ours), 2),
        "ms_swift_first_step_s": round(statistics.median(rate(r, a.warmup)[1] for r in theirs), 2),
    }
    figures["wall_ours_over_ms_swift"] = round(figures["ours_wall_s"] / figures["ms_swift_wall_s"], 3)
    print(f"steady step: ours {figures['ours_s_per_step']} s, ms-swift {figures['ms_swift_s_per_step']} s "
          f"→ {figures['step_time_ours_over_ms_swift']}× (target ≤ 0.9)")
    report(figures, [f"{model_name}; ms-swift 4.6 (TRL 0.29) in .venv-peers; {a.rounds} round(s); "
                     f"load average at the end {os.getloadavg()[0]:.1f}"])
    return 0


def peers_rows(work: Path, a: argparse.Namespace) -> Path:
    from tests.helpers.jobs import write_jsonl

    return write_jsonl(work / "data.jsonl", rows(max(120, a.steps * a.batch), words=a.length - 58))


if __name__ == "__main__":
    sys.exit(main())
