"""Variable-length rows beside ms-swift: trained tokens per second (issue 15, goal 3).

    .venv/bin/python bench/peer_varlen.py            # needs .venv-peers (bench/peer_ms_swift.py --with-peers)

The same deterministic chat rows (20 to 1,000 tokens each, answers of random length) go to this
project's `run` (download → sft, every speed setting at its default: `train.group_by_length: true`,
`train.packing: auto`) and to `swift sft` at ms-swift 4.6's defaults (random batches padded to their
longest row, no packing, no padding-free). Shared settings: builtin SmolLM2-135M, LoRA r8/α32/0.05 on
q_proj,v_proj, fp32 on the CPU, batch 4, accum 1, max_length 1024, loss on the answers (both defaults).

Trained tokens are the non-padding tokens of each batch as each tool counts them (TRL's `num_tokens`,
transformers' `include_num_input_tokens_seen="non_padding"` for ms-swift, a logging switch only,
set by bench/swift_tokens.py);
tokens/s = tokens of the steady steps / their wall time, so each side is measured on whatever rows
its own sampler drew. Our length-grouped sampler sorts megabatches longest first, which, over a part
of an epoch, puts the longest rows (the most attention per token) in the measured steps: against us.
"""

from __future__ import annotations

import argparse
import os
import random
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
from bench.peer_ms_swift import REQUIREMENT, swift_run  # noqa: E402
from bench.train_overhead import WORDS, job_dict, model_folder  # noqa: E402

SYSTEM = "Brief."  # written out: SmolLM2's template would add its long default one, ms-swift's chatml none


def varlen_rows(n: int, seed: int, tokenizer, shortest: int = 20, longest: int = 1000) -> tuple[list[dict], list[int]]:
    """n chat rows whose lengths with the model's template are drawn uniformly from shortest..longest
    tokens (the first two rows are exactly the shortest and the longest); the rows and their lengths."""
    rng = random.Random(seed)
    rows, lengths = [], []
    for i in range(n):
        target = shortest if i == 0 else longest if i == 1 else rng.randint(shortest, longest)
        words = [rng.choice(WORDS) for _ in range(max(1, target - 15))]  # a word is a token or more
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Row {i}."},
                    {"role": "assistant", "content": " ".join(words)}]
        while True:
            length = len(tokenizer.apply_chat_template(messages, return_dict=True)["input_ids"])
            if length <= target or len(words) == 1:
                break
            words = words[: max(1, len(words) - (length - target))]
            messages[-1]["content"] = " ".join(words)
        rows.append({"messages": messages})
        lengths.append(length)
    return rows, lengths


def engine_run(job_file: Path, jobs_dir: Path, name: str, stage: str) -> dict:
    """`python -m engine run JOB --fresh` in a fresh process; its step events (time, cumulative tokens)."""
    from engine.events import read_events
    from engine.files import JobFiles

    started = time.time()
    proc = subprocess.run([sys.executable, "-m", "engine", "run", str(job_file), "--jobs-dir", str(jobs_dir),
                           "--fresh"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.time() - started
    if proc.returncode != 0:
        raise SystemExit(f"engine run exited {proc.returncode}:\n{(proc.stderr or proc.stdout)[-3000:]}")
    events, _ = read_events(JobFiles(jobs_dir / name).events)
    events = [e for e in events if e["t"] >= started]  # --fresh keeps appending to the events of earlier rounds
    steps = [e["t"] for e in events if e["stage"] == stage and e["kind"] == "progress" and e.get("unit") == "step"]
    tokens = [(e["t"], e["tokens"]) for e in events if e["stage"] == stage and e["kind"] == "metric" and "tokens" in e]
    return {"step_times": steps, "tokens": tokens, "start": started, "wall": wall}


def steady(points: list[tuple[float, float]], warmup: int) -> float:
    """Units per second between the end of step `warmup` and the end of the last step."""
    if len(points) <= warmup + 1:
        raise SystemExit(f"need more than {warmup + 1} steps to measure; raise --steps")
    (t0, n0), (t1, n1) = points[max(warmup, 1) - 1], points[-1]
    return (n1 - n0) / (t1 - t0)


def step_rate(times: list[float], warmup: int) -> float:
    return steady([(t, i) for i, t in enumerate(times)], warmup)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--with-peers", action="store_true", help=f"create .venv-peers/ with {REQUIREMENT} if needed")
    p.add_argument("--rows", type=int, default=64)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=4, help="steps left out (64 rows: one 16-row length group)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--length", type=int, default=1024)
    p.add_argument("--r", type=int, default=8)
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--rounds", type=int, default=1)
    a = p.parse_args()
    a.random = False
    why = peers.swift_missing(REQUIREMENT, create=a.with_peers)
    if why:
        report({}, [f"skipped: {why}"])
        return 0

    from transformers import AutoTokenizer

    from tests.helpers.jobs import write_job, write_jsonl

    rounds: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="ycdy-varlen-") as tmp:
        work = Path(tmp)
        model, model_name = model_folder(a, work)
        rows, lengths = varlen_rows(a.rows, a.seed, AutoTokenizer.from_pretrained(model))
        data = write_jsonl(work / "data.jsonl", rows)
        job = job_dict(model, data, a)
        job["name"] = "varlen"
        job["train"].pop("assistant_only_loss")  # every speed and loss setting at its default
        job_file = write_job(work / "varlen.yaml", job)
        for i in range(a.rounds):
            got: dict[str, dict] = {}
            for which in (("ours", "swift") if i % 2 == 0 else ("swift", "ours")):
                if which == "ours":
                    got[which] = engine_run(job_file, work / "jobs", "varlen", "sft")
                else:
                    got[which] = swift_run(model, data, work / f"swift-{i}", a, count_tokens=True)
                    got[which]["tokens"] = [(t, log.get("num_input_tokens_seen", 0)) for t, log in
                                            zip(got[which]["step_times"], got[which]["logs"], strict=True)]
            rounds.append(_figures(got, a))
            print(f"round {i + 1}: {rounds[-1]}", flush=True)
    figures = {key: round(statistics.median(r[key] for r in rounds), 3) for key in rounds[0]}
    figures["ratio_per_round"] = [r["tokens_per_s_ours_over_ms_swift"] for r in rounds]
    print(f"trained tokens/s: ours {figures['ours_tokens_per_s']}, ms-swift {figures['ms_swift_tokens_per_s']} "
          f"→ {figures['tokens_per_s_ours_over_ms_swift']}× (target ≥ 1.3)")
    report(figures, [f"{model_name}; {a.rows} rows of {min(lengths)}–{max(lengths)} tokens (mean "
                     f"{statistics.mean(lengths):.0f}, seed {a.seed}); batch {a.batch}, max_length {a.length}, "
                     f"{a.steps} steps, first {a.warmup} left out; ours: group_by_length on, packing auto (off "
                     f"on a CPU); ms-swift 4.6 defaults; {a.rounds} round(s); load average at the end "
                     f"{os.getloadavg()[0]:.1f}"])
    return 0


def _figures(got: dict[str, dict], a: argparse.Namespace) -> dict:
    ours, theirs = got["ours"], got["swift"]
    if not any(n for _, n in theirs["tokens"]):
        raise SystemExit("ms-swift logged no num_input_tokens_seen")
    o_tok, s_tok = steady(ours["tokens"], a.warmup), steady(theirs["tokens"], a.warmup)
    o_step, s_step = step_rate(ours["step_times"], a.warmup), step_rate(theirs["step_times"], a.warmup)
    return {
        "ours_tokens_per_s": round(o_tok, 1), "ms_swift_tokens_per_s": round(s_tok, 1),
        "tokens_per_s_ours_over_ms_swift": round(o_tok / s_tok, 3),
        "ours_s_per_step": round(1 / o_step, 2), "ms_swift_s_per_step": round(1 / s_step, 2),
        "ours_tokens_per_step": round(o_tok / o_step), "ms_swift_tokens_per_step": round(s_tok / s_step),
        "ours_wall_s": round(ours["wall"], 1), "ms_swift_wall_s": round(theirs["wall"], 1),
    }


if __name__ == "__main__":
    sys.exit(main())
