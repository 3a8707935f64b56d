"""How much does the engine cost on top of a bare training loop? (issue 3, Performance)

Trains the same LoRA job two ways in one process, on a model big enough that compute dominates:
  1. through the engine: engine.pipeline.run_job on a job dict (download → sft, TRL's SFTTrainer);
  2. through a minimal hand-written torch + peft loop over the same model, rows, batch, length,
     LoRA shape, optimizer (AdamW) and gradient clipping.
Prints steady-state steps/s of each (the first WARMUP steps left out), their ratio (target:
engine ≥ 0.95 of the hand loop) and time to first step (from the call, imports done beforehand).

    .venv/bin/python bench/train_overhead.py                  # 768-wide, 12-layer random Llama
    .venv/bin/python bench/train_overhead.py --steps 20 --hidden 1024

A benchmark, not a test: run it on a quiet machine and record the figures in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORDS = "red green blue yellow black white orange purple apple banana cherry".split()


def rows(n: int, words: int) -> list[dict]:
    """Rows of the same token length, so both loops pad nothing and do identical work per step."""
    return [
        {"messages": [{"role": "user", "content": "Name some colors and fruit."},
                      {"role": "assistant", "content": " ".join(WORDS[(i + j) % len(WORDS)] for j in range(words))}]}
        for i in range(n)
    ]


def engine_run(model: Path, data: Path, work: Path, a: argparse.Namespace) -> dict:
    from engine.events import EventLog, read_events
    from engine.pipeline import run_job
    from engine.spec import JobSpec

    job = {
        "name": "overhead", "task": "sft", "stages": ["download", "sft"],
        "model": {"id": str(model), "hub": "local"}, "dataset": {"sft": str(data)},
        "train": {"method": "lora", "lora": {"r": a.r, "alpha": 2 * a.r, "dropout": 0.05},
                  "max_steps": a.steps, "batch_size": a.batch, "grad_accum": 1, "max_length": a.length,
                  "learning_rate": 1e-4, "warmup_ratio": 0.0, "lr_scheduler": "constant",
                  "save_steps": 10 * a.steps, "logging_steps": 1, "assistant_only_loss": False},
    }
    job_dir = work / "jobs" / f"overhead-{time.time_ns()}"
    cpu: list[float] = []
    original = EventLog.emit

    def probe(self: EventLog, stage: str, kind: str, **fields: object) -> dict:
        # Measuring only: note this process's CPU time as each step's progress event goes out.
        if stage == "sft" and kind == "progress" and fields.get("unit") == "step":
            cpu.append(time.process_time())
        return original(self, stage, kind, **fields)

    EventLog.emit = probe  # type: ignore[method-assign]
    started, started_cpu = time.time(), time.process_time()
    try:
        run_job(JobSpec.model_validate(job), job_dir)
    finally:
        EventLog.emit = original  # type: ignore[method-assign]
    events, _ = read_events(job_dir / "events.jsonl")
    steps = [e["t"] for e in events if e["stage"] == "sft" and e["kind"] == "progress" and e.get("unit") == "step"]
    tokens = [e["tokens"] for e in events if e["kind"] == "metric" and "tokens" in e]
    per_step = (tokens[-1] - tokens[0]) / (len(tokens) - 1) if len(tokens) > 1 else None
    sft_start = next(e["t"] for e in events if e["stage"] == "sft" and e["kind"] == "stage_start")
    return {"step_times": steps, "cpu_times": cpu, "start": started, "start_cpu": started_cpu,
            "tokens_per_step": per_step, "sft_start": sft_start}


def hand_loop(model_dir: Path, data: list[dict], a: argparse.Namespace) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.training.targets import resolve

    started, started_cpu = time.time(), time.process_time()
    torch.manual_seed(42)
    tok = AutoTokenizer.from_pretrained(model_dir)
    encoded = [tok.apply_chat_template(r["messages"], return_dict=True)["input_ids"][: a.length] for r in data]
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    targets = resolve("auto", model.config.model_type)
    model = get_peft_model(model, LoraConfig(r=a.r, lora_alpha=2 * a.r, lora_dropout=0.05, target_modules=targets,
                                             task_type="CAUSAL_LM"))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    order = torch.randperm(len(encoded)).tolist()
    times, cpu, tokens = [], [], []
    for step in range(a.steps):
        idx = [order[(step * a.batch + k) % len(order)] for k in range(a.batch)]
        width = max(len(encoded[i]) for i in idx)
        ids = torch.full((a.batch, width), tok.pad_token_id)
        mask = torch.zeros((a.batch, width), dtype=torch.long)
        for row, i in enumerate(idx):
            ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
            mask[row, : len(encoded[i])] = 1
        labels = ids.masked_fill(mask == 0, -100)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.time())
        cpu.append(time.process_time())
        tokens.append(int(mask.sum()))
    return {"step_times": times, "cpu_times": cpu, "start": started, "start_cpu": started_cpu,
            "tokens_per_step": sum(tokens) / len(tokens)}


def rate(result: dict, warmup: int, clock: str = "step_times") -> tuple[float, float]:
    """(steady-state steps per second after `warmup` steps, seconds from the call to the first step).

    clock "step_times" is wall time; "cpu_times" is this process's CPU time (all its threads), which
    other programs on a busy machine disturb far less.
    """
    t = result[clock]
    if len(t) <= warmup + 1:
        raise SystemExit(f"need more than {warmup + 1} steps to measure; raise --steps")
    start = result["start" if clock == "step_times" else "start_cpu"]
    return (len(t) - 1 - warmup) / (t[-1] - t[warmup]), t[0] - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=768)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--r", type=int, default=8)
    p.add_argument("--rounds", type=int, default=1, help="repeat as hand/engine, engine/hand, ... (for busy machines)")
    a = p.parse_args()

    t0 = time.time()
    import peft
    import torch
    import transformers
    import trl
    from trl import SFTTrainer  # noqa: F401  (imports done before either clock starts)

    from engine.tiny import build_tiny_model
    from tests.helpers.jobs import write_jsonl

    imports = time.time() - t0
    with tempfile.TemporaryDirectory(prefix="ycdy-overhead-") as tmp:
        work = Path(tmp)
        model = build_tiny_model(work / "model", hidden=a.hidden, layers=a.layers)
        n_params = sum(p.numel() for p in transformers.AutoModelForCausalLM.from_pretrained(model).parameters())
        data = rows(max(64, a.steps * a.batch), words=a.length - 20)
        path = write_jsonl(work / "data.jsonl", data)
        hands, engines = [], []
        for i in range(a.rounds):
            for which in (("hand", "engine") if i % 2 == 0 else ("engine", "hand")):
                if which == "hand":
                    hands.append(hand_loop(model, data, a))
                else:
                    engines.append(engine_run(model, path, work, a))
    hand_rates = [rate(h, a.warmup) for h in hands]
    eng_rates = [rate(e, a.warmup) for e in engines]
    hand_rate, hand_first = statistics.median(r for r, _ in hand_rates), hand_rates[0][1]
    eng_rate, eng_first = statistics.median(r for r, _ in eng_rates), eng_rates[0][1]
    hand, eng = hands[0], engines[0]
    hand_cpu = statistics.median(rate(h, a.warmup, "cpu_times")[0] for h in hands)
    eng_cpu = statistics.median(rate(e, a.warmup, "cpu_times")[0] for e in engines)
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_average": os.getloadavg(), "torch": torch.__version__, "transformers": transformers.__version__,
        "peft": peft.__version__, "trl": trl.__version__, "threads": torch.get_num_threads(),
        "model": f"random Llama {a.layers}x{a.hidden}, {n_params / 1e6:.1f}M parameters",
        "job": f"LoRA r{a.r} attention, batch {a.batch}, max_length {a.length}, {a.steps} steps, fp32 CPU",
        "tokens_per_step": {"hand": hand["tokens_per_step"], "engine": eng["tokens_per_step"]},
        "imports_s": round(imports, 1),
        "hand_steps_per_s": round(hand_rate, 4), "engine_steps_per_s": round(eng_rate, 4),
        "ratio_engine_over_hand": round(eng_rate / hand_rate, 3),
        "hand_steps_per_cpu_s": round(hand_cpu, 4), "engine_steps_per_cpu_s": round(eng_cpu, 4),
        "ratio_by_cpu_time": round(eng_cpu / hand_cpu, 3),
        "rounds": [{"hand": round(h, 4), "engine": round(e, 4)} for (h, _), (e, _) in zip(hand_rates, eng_rates, strict=True)],
        "hand_first_step_s": round(hand_first, 2), "engine_first_step_s": round(eng_first, 2),
        "engine_first_step_after_sft_start_s": round(eng["step_times"][0] - eng["sft_start"], 2),
    }
    print(json.dumps(report, indent=2))
    print(f"\nsteady state: engine {eng_rate:.3f} steps/s vs hand loop {hand_rate:.3f} steps/s "
          f"→ ratio {eng_rate / hand_rate:.3f} (target ≥ 0.95)")
    print(f"by CPU time (less disturbed by other programs): ratio {eng_cpu / hand_cpu:.3f}")
    print(f"time to first step: engine {eng_first:.1f} s ({eng['step_times'][0] - eng['sft_start']:.1f} s of it in "
          f"the sft stage, the rest is download's checksums), hand loop {hand_first:.1f} s")
    from bench._common import report as result_line

    result_line({k: v for k, v in report.items() if isinstance(v, int | float)},
                [f"model: {report.get('model', 'random Llama')}"] if "model" in report else [])


if __name__ == "__main__":
    main()
