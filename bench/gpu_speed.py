"""GPU training speed with and without each fast path (issue 15): tokens/s of one SFT job on rows of
20 to 1,000 tokens, as fp32, bf16, bf16 + Liger kernels, bf16 + flash-attention 2 + packing.

Each variant is a real job through engine.pipeline on the builtin SmolLM2-135M (prepared offline);
a variant whose package (liger-kernel, flash-attn) is not installed is listed as skipped. Appends a
table to bench/GPU.md (which gpu_check.py writes first; run_all.py folds it into RESULTS.md). Needs
CUDA; on a machine without it, says so and exits 0. About 4 minutes on one H100.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORDS = "red green blue yellow black white orange purple apple banana cherry".split()

VARIANTS = [  # name, train fields, package it needs
    ("fp32", {"precision": "fp32", "kernels": "none", "packing": "off"}, None),
    ("bf16", {"precision": "bf16", "kernels": "none", "packing": "off"}, None),
    ("bf16 + liger", {"precision": "bf16", "kernels": "liger", "packing": "off"}, "liger_kernel"),
    ("bf16 + flash-attn 2 + packing", {"precision": "bf16", "kernels": "none", "packing": "on"}, "flash_attn"),
]


def varied_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [{"messages": [{"role": "user", "content": "List some words."},
                          {"role": "assistant", "content": " ".join(rng.choice(WORDS)
                                                                    for _ in range(rng.randint(20, 1000)))}]}
            for _ in range(n)]


def measure(name: str, train: dict, model: Path, data: Path, work: Path) -> dict:
    from engine.events import read_events
    from engine.pipeline import run_job
    from engine.render import spec_from_mapping

    spec = spec_from_mapping({"name": name.replace(" ", "").replace("+", "-"), "task": "sft",
                              "stages": ["download", "sft"], "model": {"id": str(model), "hub": "local"},
                              "dataset": {"sft": str(data)},
                              "train": {"max_steps": 30, "batch_size": 8, "grad_accum": 1, "max_length": 1024,
                                        "save_steps": 1000, "assistant_only_loss": False, **train}}, "gpu_speed")
    job_dir = work / spec.name
    run_job(spec, job_dir)
    events, _ = read_events(job_dir / "events.jsonl")
    steps = [e["t"] for e in events if e["stage"] == "sft" and e["kind"] == "progress" and e.get("unit") == "step"]
    tokens = [(e["t"], e["tokens"]) for e in events if e["kind"] == "metric" and "tokens" in e]
    done = [t for t in tokens if t[0] >= steps[4]]  # after 5 warm-up steps
    rate = (done[-1][1] - done[0][1]) / (done[-1][0] - done[0][0]) if len(done) > 1 else 0.0
    peak = max((max(e.get("peak_memory_gb") or [0]) for e in events if e["kind"] == "metric"), default=0)
    return {"variant": name, "tokens_per_s": round(rate), "s_per_step": round((steps[-1] - steps[4]) / (len(steps) - 5), 3),
            "peak_gb": peak}


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("gpu_speed: skipped: no CUDA GPU here")
        return 0
    from engine.registry import builtin
    from tests.helpers.jobs import write_jsonl

    model = builtin.ensure(builtin.get("builtin/smollm2-135m-instruct"), print)
    rows_out = []
    with tempfile.TemporaryDirectory(prefix="ycdy-gpu-speed-") as tmp:
        work = Path(tmp)
        data = write_jsonl(work / "varied.jsonl", varied_rows(400))
        for name, train, package in VARIANTS:
            if package and importlib.util.find_spec(package) is None:
                rows_out.append({"variant": name, "skipped": f"{package} not installed"})
                continue
            started = time.time()
            try:
                rows_out.append({**measure(name, train, model, data, work), "wall_s": round(time.time() - started)})
            except Exception as exc:  # one variant failing must not hide the others
                rows_out.append({"variant": name, "failed": f"{type(exc).__name__}: {exc}"[:200]})
    base = next((r["tokens_per_s"] for r in rows_out if r["variant"] == "bf16" and "tokens_per_s" in r), None)
    lines = ["", "### Training speed by fast path (bench/gpu_speed.py)", "",
             f"{torch.cuda.get_device_name(0)}; SmolLM2-135M LoRA, batch 8, rows of 20–1,000 tokens, 30 steps", "",
             "| variant | tokens/s | vs bf16 | s/step | peak GB |", "|---|---|---|---|---|"]
    for r in rows_out:
        if "tokens_per_s" in r:
            ratio = f"{r['tokens_per_s'] / base:.2f}" if base else ""
            lines.append(f"| {r['variant']} | {r['tokens_per_s']} | {ratio} | {r['s_per_step']} | {r['peak_gb']} |")
        else:
            lines.append(f"| {r['variant']} | {r.get('skipped') or r.get('failed')} | | | |")
    print("\n".join(lines))
    print(json.dumps(rows_out))
    with open(ROOT / "bench" / "GPU.md", "a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
