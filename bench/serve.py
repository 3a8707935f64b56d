"""Serving overhead: the builtin server on loopback vs raw model.generate, same model, prompt, run.

    .venv/bin/python bench/serve.py [--tokens 64] [--runs 3] [--threads 1] [--tiny]

Measures, for a greedy answer of exactly --tokens tokens (eos ignored so both sides do the same
work): time to first token (raw: generate(max_new_tokens=1), i.e. the model's own prefill plus one
step; server: from sending the request to the first streamed content chunk) and tokens/s over the
whole answer. Prints the ratios the serving issue sets targets for: tokens/s server/raw ≥ 0.9 and
first-token overhead < 20 ms. Uses builtin/smollm2-135m-instruct when it is installed, else the
tiny random model. Raw and server runs alternate so that load from other processes hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PROMPT = "Write a short poem about the sea."


def pick_model(tiny: bool, scratch: Path) -> tuple[Path, str]:
    if not tiny:
        try:
            from engine.registry import builtin

            spec = builtin.get("builtin/smollm2-135m-instruct")
            if builtin.missing_package(spec) is None:
                return builtin.ensure(spec, log=print), "SmolLM2-135M-Instruct (builtin)"
        except ImportError:
            pass
    from engine.tiny import build_tiny_model

    return build_tiny_model(scratch / "tiny"), "tiny random Llama (2 layers, 64 wide)"


def raw_runs(model_dir: Path, tokens: int) -> tuple[callable, callable]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    text = tok.apply_chat_template([{"role": "user", "content": PROMPT}], add_generation_prompt=True, tokenize=False)
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
    mask = torch.ones_like(ids)

    def generate(n: int) -> float:
        started = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                                 do_sample=False, temperature=None, top_p=None, top_k=None)
        assert out.shape[1] - ids.shape[1] == n
        return time.perf_counter() - started

    generate(4)  # warm-up
    return (lambda: generate(1)), (lambda: tokens / generate(tokens))


def server_run(client, url: str, tokens: int) -> tuple[float, float]:
    body = {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": tokens, "temperature": 0,
            "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}
    started = time.perf_counter()
    first = None
    usage = None
    with client.stream("POST", f"{url}/v1/chat/completions", json=body) as resp:
        for line in resp.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                usage = chunk["usage"]
            if first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - started
    total = time.perf_counter() - started
    assert usage and usage["completion_tokens"] == tokens, usage
    return first or total, tokens / total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on both sides (1 = fair on a shared CPU)")
    parser.add_argument("--tiny", action="store_true", help="use the tiny random model even if SmolLM2 is installed")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    import httpx
    import torch

    from engine.serve.process import wait_healthy

    torch.set_num_threads(args.threads)
    scratch = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    model_dir, label = pick_model(args.tiny, scratch)
    first_raw, tps_raw = raw_runs(model_dir, args.tokens)

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "YCDY_API_KEY": ""}
    log = open(scratch / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "engine", "serve", str(model_dir), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    results: dict[str, list[float]] = {"raw_first": [], "raw_tps": [], "srv_first": [], "srv_tps": []}
    try:
        wait_healthy(url, proc, 300, scratch / "serve.log")
        with httpx.Client(timeout=600, trust_env=False) as client:
            server_run(client, url, 4)  # warm-up
            for _ in range(args.runs):
                results["raw_first"].append(first_raw())
                results["srv_first"].append(server_run(client, url, 1)[0])
                results["raw_tps"].append(tps_raw())
                results["srv_tps"].append(server_run(client, url, args.tokens)[1])
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()

    med = {k: statistics.median(v) for k, v in results.items()}
    ratio = med["srv_tps"] / med["raw_tps"]
    overhead_ms = (med["srv_first"] - med["raw_first"]) * 1000
    print(f"model: {label}; {args.tokens} tokens greedy, median of {args.runs} runs, {args.threads} torch thread(s)")
    print(f"  raw generate   first token {med['raw_first'] * 1000:8.1f} ms   {med['raw_tps']:8.1f} tokens/s")
    print(f"  builtin server first token {med['srv_first'] * 1000:8.1f} ms   {med['srv_tps']:8.1f} tokens/s")
    print(f"  tokens/s ratio server/raw: {ratio:.3f}  (target >= 0.9: {'met' if ratio >= 0.9 else 'MISSED'})")
    print(f"  first-token overhead: {overhead_ms:+.1f} ms  (target < 20 ms: {'met' if overhead_ms < 20 else 'MISSED'})")
    from bench._common import report

    report({"raw_first_token_ms": round(med["raw_first"] * 1000, 2), "server_first_token_ms": round(med["srv_first"] * 1000, 2),
            "first_token_overhead_ms": round(overhead_ms, 2), "raw_tokens_per_s": round(med["raw_tps"], 1),
            "server_tokens_per_s": round(med["srv_tps"], 1), "tokens_per_s_ratio": round(ratio, 3)},
           [f"model: {label}; {args.tokens} tokens greedy; targets: ratio >= 0.9, overhead < 20 ms"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
