"""Eval throughput: 200 multiple-choice items scored batched vs one request at a time, on the same loaded model.

    .venv/bin/python bench/eval.py            # SmolLM2-135M-Instruct (builtin), batch 16
    .venv/bin/python bench/eval.py --tiny     # the random tiny model (seconds; a smoke run)

The items are generated (two-number sums with four numeric choices, fixed seed) and asked exactly as
the eval stage asks a general_mcq file (engine.eval.readers.mcq_prompt, choice-letter log-probabilities).
"One request at a time" is what a client asking per item costs: each prompt's own forward pass, all of
it, on the same loaded model (`one_at_a_time` below). The eval stage's Runner batches, computes the
prompts' shared tokens once and projects only the last position. Prints items/s of both and their
ratio (issue #14 asks ≥ 3×), and the Runner at batch 1 for what batching alone adds; the picks must agree.
Not a timed test: bench/run_all.py collects the RESULT line.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
SMOLLM = "builtin/smollm2-135m-instruct"


def items(n: int = 200, seed: int = 0) -> tuple[list[list[dict[str, str]]], list[list[str]], list[str]]:
    from engine.eval.readers import mcq_prompt

    rng = random.Random(seed)
    prompts, letters, answers = [], [], []
    for _ in range(n):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        wrong = rng.sample([v for v in range(a + b - 20, a + b + 21) if v != a + b and v > 0], 3)
        values = [a + b, *wrong]
        rng.shuffle(values)
        choices = {k: str(v) for k, v in zip("ABCD", values, strict=True)}
        prompts.append([{"role": "user", "content": mcq_prompt(f"What is {a} + {b}?", choices)}])
        letters.append(list(choices))
        answers.append("ABCD"[values.index(a + b)])
    return prompts, letters, answers


def model_folder(tiny: bool, work: Path) -> tuple[str, Path]:
    if not tiny:
        try:
            from engine.registry import builtin

            return SMOLLM, builtin.ensure(builtin.get(SMOLLM), log=print)
        except Exception as exc:  # noqa: BLE001 - a bench falls back and says why
            print(f"{SMOLLM} is not available here ({exc}); using the tiny model", file=sys.stderr)
    from engine.tiny import build_tiny_model

    return "tiny (random 2-layer Llama)", build_tiny_model(work / "tiny-model")


def one_at_a_time(runner, prompts, letters) -> list[dict[str, float]]:  # noqa: ANN001 - bench
    """Each item on its own: its whole prompt through the model, the letters read off the last position."""
    import torch

    out = []
    for messages, keys in zip(prompts, letters, strict=True):
        ids = torch.tensor([runner._encode(runner.render(messages))], device=runner.device)
        with torch.no_grad():
            logp = torch.log_softmax(runner.model(input_ids=ids).logits[0, -1].float(), dim=-1)
        out.append({k: max(float(logp[t]) for t in runner._letter_ids(k)) for k in keys})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the random tiny model instead of SmolLM2")
    parser.add_argument("--batch", type=int, default=16, help="batch size of the batched pass (default 16)")
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()

    from bench._common import report
    from engine.eval.runner import Runner
    from engine.eval.scorers import pick_choice

    prompts, letters, answers = items(args.items)
    with tempfile.TemporaryDirectory() as tmp:
        name, folder = model_folder(args.tiny, Path(tmp))
        runner = Runner(folder, batch_size=args.batch)
        runner.choice_logprobs(prompts[:4], letters[:4])  # warm-up: first-call overheads out of both timings
        timings, picks = {}, {}
        for label, size in (("batched", args.batch), ("single", 1), ("runner_batch_1", 1)):
            runner.batch_size = size
            started = time.perf_counter()
            logps = (one_at_a_time(runner, prompts, letters) if label == "single"
                     else runner.choice_logprobs(prompts, letters))
            timings[label] = time.perf_counter() - started
            picks[label] = [pick_choice(lp) for lp in logps]
    agree = sum(a == b for a, b in zip(picks["batched"], picks["single"], strict=True)) / len(prompts)
    accuracy = sum(p == a for p, a in zip(picks["batched"], answers, strict=True)) / len(prompts)
    figures = {
        "model": name,
        "items": len(prompts),
        "batch_size": args.batch,
        "batched_items_per_s": round(len(prompts) / timings["batched"], 2),
        "single_items_per_s": round(len(prompts) / timings["single"], 2),
        "throughput_ratio": round(timings["single"] / timings["batched"], 2),
        "runner_batch_1_items_per_s": round(len(prompts) / timings["runner_batch_1"], 2),
        "picks_agree": round(agree, 4),
        "accuracy": round(accuracy, 4),
    }
    report(figures, [f"threads {os.environ.get('OMP_NUM_THREADS', 'default')}; issue #14 asks ratio ≥ 3"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
