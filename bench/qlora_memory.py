"""Peak memory of QLoRA vs LoRA on the same model, same data, same steps (issue 7, benchmarks).

Each method trains in its own fresh process (so one run's allocations cannot hide the other's) and
reports its peak: GPU memory allocated on CUDA machines, resident set size on CPU. The model is a
random Llama large enough that weights dominate (default ~110M parameters).

    .venv/bin/python bench/qlora_memory.py [--hidden 768 --layers 12 --steps 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import report  # noqa: E402

CHILD = r"""
import json, resource, sys
from pathlib import Path
from engine.pipeline import run_job
from engine.render import spec_from_mapping
job = json.loads(sys.argv[1])
spec = spec_from_mapping(job, "bench")
run_job(spec, Path(sys.argv[2]))
import torch
gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
now = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmRSS:")) / 1024
print("PEAK " + json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "gpu_mb": gpu,
                            "rss_after_mb": now}))
"""


def run(method: str, model: Path, data: Path, work: Path, steps: int) -> dict:
    job = {"name": f"mem-{method}", "task": "sft", "stages": ["download", "sft"],
           "model": {"id": str(model), "hub": "local"}, "dataset": {"sft": str(data)},
           "train": {"method": method, "max_steps": steps, "batch_size": 2, "grad_accum": 1, "max_length": 128,
                     "save_steps": 1000, "lora": {"r": 8, "alpha": 16, "target_modules": "all-linear"}}}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(job), str(work / job["name"])], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("PEAK "))
    return json.loads(line[5:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    from engine.tiny import build_tiny_model
    from tests.helpers.jobs import toy_sft_rows, write_jsonl

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = build_tiny_model(work / "model", hidden=args.hidden, layers=args.layers, vocab_size=512)
        data = write_jsonl(work / "toy.jsonl", toy_sft_rows(32))
        lora = run("lora", model, data, work, args.steps)
        qlora = run("qlora", model, data, work, args.steps)
    key = "gpu_mb" if lora["gpu_mb"] is not None else "rss_mb"
    figures = {f"lora_peak_{key}": round(lora[key], 1), f"qlora_peak_{key}": round(qlora[key], 1),
               "qlora_over_lora": round(qlora[key] / lora[key], 3)}
    if key == "rss_mb":  # on CPU the load-time peak holds fp32 weights before 4-bit packing: show what stays too
        figures.update({"lora_rss_after_training_mb": round(lora["rss_after_mb"], 1),
                        "qlora_rss_after_training_mb": round(qlora["rss_after_mb"], 1)})
    report(figures,
           [f"random Llama {args.layers}×{args.hidden}, batch 2 × 128 tokens, {args.steps} steps; "
            f"{'GPU allocated' if key == 'gpu_mb' else 'CPU resident set (includes the Python/torch runtime and the memory-mapped fp32 checkpoint pages, which hide the 4-bit saving on CPU; on a GPU the figure is max_memory_allocated)'}"])


if __name__ == "__main__":
    main()
