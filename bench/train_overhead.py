"""How much does the engine cost on top of a bare training loop? (issues 3 and 15, Performance)

Trains the same LoRA job two ways, each in a fresh process started from here (so imports count the
same way for both), on the builtin SmolLM2-135M-Instruct (a real 49,152-token vocabulary):
  1. through the engine: `python -m engine run JOB --fresh` (download → sft, TRL's SFTTrainer);
  2. through a minimal hand-written torch + peft loop (`--hand` below) over the same model, rows,
     batch, length, LoRA shape, optimizer (AdamW) and gradient clipping.
The job is issue 15's: LoRA r8/α32/dropout 0.05 on q_proj,v_proj, fp32, batch 4, accum 1, max_length
128, 20 steps, ~110-token rows. Prints steady-state steps/s of each (the first WARMUP steps left out),
their ratio (target: engine step time ≤ 1.05× the hand loop's, i.e. steps/s ratio ≥ 0.95), and time from
process start to the first finished step (target ≤ 1.15× the hand loop's).

    .venv/bin/python bench/train_overhead.py                    # builtin SmolLM2-135M
    .venv/bin/python bench/train_overhead.py --random --hidden 768 --layers 12   # the old random Llama

A benchmark, not a test: run it on a quiet machine and record the figures in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORDS = "red green blue yellow black white orange purple apple banana cherry".split()
BUILTIN = "builtin/smollm2-135m-instruct"
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def rows(n: int, words: int) -> list[dict]:
    """Rows of the same token length, so both loops pad nothing and do identical work per step.

    The system turn is SmolLM2's default one, written out, so that templates which add no default
    system prompt (ms-swift's chatml) see the same tokens; 70 words make ~109 tokens, under max_length
    128, which ms-swift needs (it drops longer rows by default).
    """
    return [
        {"messages": [{"role": "system", "content": SYSTEM},
                      {"role": "user", "content": "Name some colors and fruit."},
                      {"role": "assistant", "content": " ".join(WORDS[(i + j) % len(WORDS)] for j in range(words))}]}
        for i in range(n)
    ]


def job_dict(model: Path, data: Path, a: argparse.Namespace) -> dict:
    return {
        "name": "overhead", "task": "sft", "stages": ["download", "sft"],
        "model": {"id": str(model), "hub": "local"}, "dataset": {"sft": str(data)},
        "train": {"method": "lora", "lora": {"r": a.r, "alpha": 4 * a.r, "dropout": 0.05,
                                             "target_modules": ["q_proj", "v_proj"]},
                  "max_steps": a.steps, "batch_size": a.batch, "grad_accum": 1, "max_length": a.length,
                  "precision": "fp32", "learning_rate": 1e-4, "warmup_ratio": 0.0, "lr_scheduler": "constant",
                  "save_steps": 10 * a.steps, "logging_steps": 1, "assistant_only_loss": False},
    }


def engine_child(job_file: Path, jobs_dir: Path) -> dict:
    """In a fresh process: `engine run JOB --fresh`, noting this process's CPU time at each step's progress event."""
    from engine.cli import main as engine_main
    from engine.events import EventLog

    cpu: list[float] = []
    original = EventLog.emit

    def probe(self: EventLog, stage: str, kind: str, **fields: object) -> dict:
        # Measuring only: note this process's CPU time as each step's progress event goes out.
        if stage == "sft" and kind == "progress" and fields.get("unit") == "step":
            cpu.append(time.process_time())
        return original(self, stage, kind, **fields)

    EventLog.emit = probe  # type: ignore[method-assign]
    code = engine_main(["run", str(job_file), "--jobs-dir", str(jobs_dir), "--fresh"])
    if code != 0:
        raise SystemExit(f"engine run exited {code}")
    from engine.events import read_events

    events, _ = read_events(jobs_dir / "overhead" / "events.jsonl")
    steps = [e["t"] for e in events if e["stage"] == "sft" and e["kind"] == "progress" and e.get("unit") == "step"]
    tokens = [e["tokens"] for e in events if e["kind"] == "metric" and "tokens" in e]
    sft_start = [e["t"] for e in events if e["stage"] == "sft" and e["kind"] == "stage_start"][-1]
    return {"step_times": steps, "cpu_times": cpu, "start_cpu": 0.0, "sft_start": sft_start,
            "tokens_per_step": (tokens[-1] - tokens[0]) / (len(tokens) - 1) if len(tokens) > 1 else None}


def hand_child(model_dir: Path, data_file: Path, a: argparse.Namespace) -> dict:
    """In a fresh process: the 25-line torch + peft loop the issue timed the engine against."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(42)
    data = [json.loads(line) for line in data_file.read_text().splitlines()]
    tok = AutoTokenizer.from_pretrained(model_dir)
    encoded = [tok.apply_chat_template(r["messages"], return_dict=True)["input_ids"][: a.length] for r in data]
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=a.r, lora_alpha=4 * a.r, lora_dropout=0.05,
                                             target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
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
    return {"step_times": times, "cpu_times": cpu, "start_cpu": 0.0, "tokens_per_step": sum(tokens) / len(tokens)}


def spawn(argv: list[str]) -> dict:
    """Run one child from a fresh interpreter; its last stdout line is its JSON result, `start` is when it began."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.time()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"child {argv[:1]} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["start"] = started
    return result


def rate(result: dict, warmup: int, clock: str = "step_times") -> tuple[float, float]:
    """(steady-state steps per second after `warmup` steps, seconds from process start to the first step).

    clock "step_times" is wall time; "cpu_times" is the child's CPU time (all its threads), which
    other programs on a busy machine disturb far less.
    """
    t = result[clock]
    if len(t) <= warmup + 1:
        raise SystemExit(f"need more than {warmup + 1} steps to measure; raise --steps")
    start = result["start" if clock == "step_times" else "start_cpu"]
    return (len(t) - 1 - warmup) / (t[-1] - t[warmup]), t[0] - start


def model_folder(a: argparse.Namespace, work: Path) -> tuple[Path, str]:
    if a.random:
        from engine.tiny import build_tiny_model

        path = build_tiny_model(work / "model", hidden=a.hidden, layers=a.layers)
        return path, f"random Llama {a.layers}x{a.hidden}"
    from engine.registry import builtin

    return builtin.ensure(builtin.get(BUILTIN), print), "SmolLM2-135M-Instruct (builtin, vocabulary 49,152)"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--random", action="store_true", help="a random Llama (--hidden, --layers) instead of SmolLM2")
    p.add_argument("--hidden", type=int, default=768)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--r", type=int, default=8)
    p.add_argument("--rounds", type=int, default=1, help="repeat as hand/engine, engine/hand, ... (for busy machines)")
    p.add_argument("--child", choices=["hand", "engine"], help=argparse.SUPPRESS)
    p.add_argument("--paths", nargs=2, type=Path, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child == "hand":
        print(json.dumps(hand_child(a.paths[0], a.paths[1], a)))
        return
    if a.child == "engine":
        print(json.dumps(engine_child(a.paths[0], a.paths[1])))
        return

    import peft
    import torch
    import transformers
    import trl

    from tests.helpers.jobs import write_job, write_jsonl

    os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))
    with tempfile.TemporaryDirectory(prefix="ycdy-overhead-") as tmp:
        work = Path(tmp)
        model, model_name = model_folder(a, work)
        data = write_jsonl(work / "data.jsonl", rows(max(120, a.steps * a.batch), words=a.length - 58))
        job_file = write_job(work / "overhead.yaml", job_dict(model, data, a))
        hands, engines = [], []
        for i in range(a.rounds):
            for which in (("hand", "engine") if i % 2 == 0 else ("engine", "hand")):
                if which == "hand":
                    hands.append(spawn(["--child", "hand", "--paths", str(model), str(data), "--steps", str(a.steps),
                                        "--batch", str(a.batch), "--length", str(a.length), "--r", str(a.r)]))
                else:
                    engines.append(spawn(["--child", "engine", "--paths", str(job_file), str(work / "jobs")]))
    hand_rates = [rate(h, a.warmup) for h in hands]
    eng_rates = [rate(e, a.warmup) for e in engines]
    hand_rate, hand_first = statistics.median(r for r, _ in hand_rates), statistics.median(f for _, f in hand_rates)
    eng_rate, eng_first = statistics.median(r for r, _ in eng_rates), statistics.median(f for _, f in eng_rates)
    hand, eng = hands[0], engines[0]
    hand_cpu = statistics.median(rate(h, a.warmup, "cpu_times")[0] for h in hands)
    eng_cpu = statistics.median(rate(e, a.warmup, "cpu_times")[0] for e in engines)
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_average": os.getloadavg(), "torch": torch.__version__, "transformers": transformers.__version__,
        "peft": peft.__version__, "trl": trl.__version__, "threads": torch.get_num_threads(), "model": model_name,
        "job": f"LoRA r{a.r}/a{4 * a.r} q_proj,v_proj, batch {a.batch}, max_length {a.length}, {a.steps} steps, "
               "fp32 CPU",
        "tokens_per_step": {"hand": hand["tokens_per_step"], "engine": eng["tokens_per_step"]},
        "hand_s_per_step": round(1 / hand_rate, 3), "engine_s_per_step": round(1 / eng_rate, 3),
        "step_time_engine_over_hand": round(hand_rate / eng_rate, 3),
        "hand_cpu_s_per_step": round(1 / hand_cpu, 3), "engine_cpu_s_per_step": round(1 / eng_cpu, 3),
        "step_cpu_time_engine_over_hand": round(hand_cpu / eng_cpu, 3),
        "rounds": [{"hand_s_per_step": round(1 / h, 3), "engine_s_per_step": round(1 / e, 3)}
                   for (h, _), (e, _) in zip(hand_rates, eng_rates, strict=True)],
        "hand_first_step_s": round(hand_first, 2), "engine_first_step_s": round(eng_first, 2),
        "first_step_engine_over_hand": round(eng_first / hand_first, 3),
        "engine_first_step_after_sft_start_s": round(eng["step_times"][0] - eng["sft_start"], 2),
    }
    print(json.dumps(report, indent=2))
    print(f"\nsteady state: engine {1 / eng_rate:.3f} s/step vs hand loop {1 / hand_rate:.3f} s/step "
          f"→ {hand_rate / eng_rate:.3f}× (target ≤ 1.05)")
    print(f"by CPU time (less disturbed by other programs): {hand_cpu / eng_cpu:.3f}×")
    print(f"time to first step from process start: engine {eng_first:.1f} s, hand loop {hand_first:.1f} s "
          f"→ {eng_first / hand_first:.3f}× (target ≤ 1.15)")
    from bench._common import report as result_line

    result_line({k: v for k, v in report.items() if isinstance(v, int | float)},
                [f"model: {model_name}; {report['job']}; load average at the end {report['load_average'][0]:.1f}"])


if __name__ == "__main__":
    main()
