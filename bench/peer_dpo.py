"""DPO beside ms-swift: steady seconds per step on the same preference pairs (issue 15, goal 5).

    .venv/bin/python bench/peer_dpo.py               # needs .venv-peers (bench/peer_ms_swift.py --with-peers)

The same 32 deterministic pairs (one file in the messages + rejected_response layout both read) go to
this project's `run` (download → dpo, task dpo) and to `swift rlhf --rlhf_type dpo`. Shared settings:
builtin SmolLM2-135M, LoRA r8/α32/0.05 on q_proj,v_proj, fp32 on the CPU, batch 4 pairs, accum 1,
max_length 512 (every pair fits: ms-swift drops longer ones), beta 0.1, sigmoid loss, constant lr,
the reference model = the base with the adapter switched off (both), logged every step.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import peers  # noqa: E402
from bench._common import report  # noqa: E402
from bench.peer_ms_swift import REQUIREMENT, swift_run  # noqa: E402
from bench.peer_varlen import SYSTEM, engine_run, step_rate  # noqa: E402
from bench.train_overhead import WORDS, job_dict, model_folder  # noqa: E402


def pairs(n: int, seed: int, shortest: int = 30, longest: int = 200) -> list[dict]:
    """n preference pairs: a question, a chosen and a rejected answer of shortest..longest words each."""
    rng = random.Random(seed)

    def answer() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(shortest, longest)))

    return [{"messages": [{"role": "system", "content": SYSTEM},
                          {"role": "user", "content": f"Name some colors and fruit, list {i}."},
                          {"role": "assistant", "content": answer()}],
             "rejected_response": answer()} for i in range(n)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--with-peers", action="store_true", help=f"create .venv-peers/ with {REQUIREMENT} if needed")
    p.add_argument("--pairs", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--length", type=int, default=512)
    p.add_argument("--r", type=int, default=8)
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--rounds", type=int, default=1)
    a = p.parse_args()
    a.random = False
    why = peers.swift_missing(REQUIREMENT, create=a.with_peers)
    if why:
        report({}, [f"skipped: {why}"])
        return 0

    from tests.helpers.jobs import write_job, write_jsonl

    rounds: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="ycdy-dpo-") as tmp:
        work = Path(tmp)
        model, model_name = model_folder(a, work)
        data = write_jsonl(work / "pairs.jsonl", pairs(a.pairs, a.seed))
        job = job_dict(model, data, a)
        job.update(name="dpobench", task="dpo", stages=["download", "dpo"], dataset={"preference": str(data)})
        job["train"].pop("assistant_only_loss")
        job["dpo"] = {"beta": a.beta, "learning_rate": 1e-4, "max_steps": a.steps}
        job_file = write_job(work / "dpobench.yaml", job)
        for i in range(a.rounds):
            got: dict[str, dict] = {}
            for which in (("ours", "swift") if i % 2 == 0 else ("swift", "ours")):
                if which == "ours":
                    got[which] = engine_run(job_file, work / "jobs", "dpobench", "dpo")
                else:
                    got[which] = swift_run(model, data, work / f"swift-{i}", a, command="rlhf",
                                           extra=("--rlhf_type", "dpo", "--beta", str(a.beta)))
            ours, theirs = step_rate(got["ours"]["step_times"], a.warmup), step_rate(got["swift"]["step_times"], a.warmup)
            rounds.append({"ours_s_per_step": round(1 / ours, 3), "ms_swift_s_per_step": round(1 / theirs, 3),
                           "step_time_ours_over_ms_swift": round(theirs / ours, 3),
                           "ours_wall_s": round(got["ours"]["wall"], 1), "ms_swift_wall_s": round(got["swift"]["wall"], 1)})
            print(f"round {i + 1}: {rounds[-1]}", flush=True)
    figures = {key: round(statistics.median(r[key] for r in rounds), 3) for key in rounds[0]}
    figures["ratio_per_round"] = [r["step_time_ours_over_ms_swift"] for r in rounds]
    print(f"DPO steady step: ours {figures['ours_s_per_step']} s, ms-swift {figures['ms_swift_s_per_step']} s "
          f"→ {figures['step_time_ours_over_ms_swift']}× (target ≤ 1.0)")
    report(figures, [f"{model_name}; {a.pairs} pairs, batch {a.batch}, max_length {a.length}, beta {a.beta}, "
                     f"{a.steps} steps, first {a.warmup} left out; ms-swift 4.6 `swift rlhf --rlhf_type dpo`; "
                     f"{a.rounds} round(s); load average at the end {os.getloadavg()[0]:.1f}"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
