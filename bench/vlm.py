"""Vision-language models: image request latency through the builtin server vs raw generate with the processor.

    .venv/bin/python bench/vlm.py [--tokens 8] [--runs 5] [--threads 1] [--size 224]

Serving half of issue #13's benchmark: the same tiny random Qwen2-VL (engine.tiny_vlm), the same
image and question, greedy, exactly --tokens new tokens (eos ignored so both sides do the same work).
Raw: processor(text, images) + model.generate on an already decoded PIL image, in this process.
Server: a non-streamed /v1/chat/completions request carrying the image as a base64 PNG data URL,
timed from sending to the parsed answer, so the overhead holds HTTP, JSON, base64, PNG decoding, the
limit checks and the queue. Target: overhead ≤ 30 ms. Raw and server runs alternate so load from
other processes hits both alike. (The training half — s/step vs a hand loop — belongs in this file too.)
"""

from __future__ import annotations

import argparse
import base64
import io
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
QUESTION = "What colour is the square?"


def noise_png(size: int) -> bytes:
    """A photo-like (incompressible) PNG, so decoding costs what a real image costs."""
    from PIL import Image

    buf = io.BytesIO()
    Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(buf, "PNG")
    return buf.getvalue()


def raw_run(model_dir: Path, png: bytes, tokens: int):
    import torch
    from PIL import Image

    from engine.serve import multimodal

    model, processor = multimodal.load(model_dir, False, "cpu", torch.float32)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]

    def once() -> float:
        started = time.perf_counter()
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = processor(text=[text], images=[[image]], return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                                 temperature=None, top_p=None, top_k=None)
        assert out.shape[1] - inputs["input_ids"].shape[1] == tokens
        return time.perf_counter() - started

    once()  # warm-up
    return once


def server_run(client, url: str, image_url: str, tokens: int) -> float:
    body = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image_url}},
                                                      {"type": "text", "text": QUESTION}]}],
            "max_tokens": tokens, "temperature": 0, "ignore_eos": True}
    started = time.perf_counter()
    resp = client.post(f"{url}/v1/chat/completions", json=body)
    answer = resp.json()
    elapsed = time.perf_counter() - started
    assert resp.status_code == 200 and answer["usage"]["completion_tokens"] == tokens, resp.text[:300]
    return elapsed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serving(args: argparse.Namespace, scratch: Path) -> tuple[dict, list[str]]:
    import httpx

    from engine.serve.process import wait_healthy
    from engine.tiny_vlm import build_tiny_vlm

    model_dir = build_tiny_vlm(scratch / "tiny-vlm", "qwen2-vl")
    png = noise_png(args.size)
    image_url = "data:image/png;base64," + base64.b64encode(png).decode()
    raw = raw_run(model_dir, png, args.tokens)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "YCDY_API_KEY": "", "OMP_NUM_THREADS": str(args.threads)}
    log = open(scratch / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "engine", "serve", str(model_dir), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    times: dict[str, list[float]] = {"raw": [], "server": []}
    try:
        wait_healthy(url, proc, 300, scratch / "serve.log")
        with httpx.Client(timeout=600, trust_env=False) as client:
            server_run(client, url, image_url, args.tokens)  # warm-up
            for _ in range(args.runs):
                times["raw"].append(raw())
                times["server"].append(server_run(client, url, image_url, args.tokens))
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    overhead = med["server"] - med["raw"]
    print(f"tiny random Qwen2-VL; {args.size}×{args.size} PNG ({len(png) // 1024} KiB) as a data URL; "
          f"{args.tokens} tokens greedy; median of {args.runs} runs; {args.threads} torch thread(s)")
    print(f"  raw processor + generate  {med['raw']:8.1f} ms")
    print(f"  builtin server request    {med['server']:8.1f} ms")
    print(f"  overhead: {overhead:+.1f} ms  (target <= 30 ms: {'met' if overhead <= 30 else 'MISSED'})")
    figures = {"image_request_raw_ms": round(med["raw"], 2), "image_request_server_ms": round(med["server"], 2),
               "image_request_overhead_ms": round(overhead, 2)}
    notes = [f"serving: tiny random Qwen2-VL, {args.size}² noise PNG ({len(png) // 1024} KiB) as a base64 data URL, "
             f"{args.tokens} tokens greedy, non-streamed; target overhead <= 30 ms"]
    return figures, notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on both sides (1 = fair on a shared CPU)")
    parser.add_argument("--size", type=int, default=224, help="the image's width and height in pixels")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    scratch = Path(tempfile.mkdtemp(prefix="bench-vlm-"))
    figures, notes = serving(args, scratch)
    from bench._common import report

    report(figures, notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
