"""The GPU proof: the same pipelines the CPU tests run, on CUDA, with a table of what each took (issue 7).

Runs (each a real job through engine.pipeline, on a random model built here, so nothing is fetched):
  1. LoRA SFT in bf16 → merge                    (bf16 path, tokens/s, peak GPU memory)
  2. QLoRA SFT (bitsandbytes nf4 on the GPU) → merge onto the full-precision base
  3. AWQ export of the merged model (llm-compressor kernels) with its quality report
  4. vLLM serving of the export, when vllm imports: one chat completion through its OpenAI API
Writes bench/GPU.md (run_all.py folds it into RESULTS.md) and prints the same table. ≤ 8 minutes on one GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def job(name: str, model: Path, data: Path, **train: object) -> dict:
    return {"name": name, "task": "sft", "stages": ["download", "sft", "merge"],
            "model": {"id": str(model), "hub": "local"}, "dataset": {"sft": str(data)},
            "train": {"max_steps": 30, "batch_size": 8, "grad_accum": 1, "max_length": 256, "save_steps": 1000,
                      "learning_rate": 2e-4, "precision": "bf16", **train}}


def run(spec_map: dict, work: Path) -> tuple[float, dict, list[dict]]:
    from engine.pipeline import run_job
    from engine.render import spec_from_mapping

    spec = spec_from_mapping(spec_map, "gpu_check")
    job_dir = work / spec.name
    started = time.monotonic()
    state = run_job(spec, job_dir)
    events = [json.loads(x) for x in (job_dir / "events.jsonl").read_text().splitlines()]
    return time.monotonic() - started, state.data, events


def peak(events: list[dict]) -> str:
    peaks = [max(e["peak_memory_gb"]) for e in events if e.get("peak_memory_gb")]
    return f"{max(peaks):.2f} GB" if peaks else "n/a"


def vllm_check(export_dir: Path) -> str:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return "vllm not installed: skipped"
    env = {**os.environ, "VLLM_API_KEY": "gpu-check"}
    proc = subprocess.Popen(["vllm", "serve", str(export_dir), "--host", "127.0.0.1", "--port", "8701",
                             "--served-model-name", "check", "--max-model-len", "512"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen("http://127.0.0.1:8701/health", timeout=2)
                break
            except OSError:
                time.sleep(2)
        else:
            return "vllm did not become healthy in 240 s"
        body = json.dumps({"model": "check", "messages": [{"role": "user", "content": "Say the color red."}],
                           "max_tokens": 16}).encode()
        req = urllib.request.Request("http://127.0.0.1:8701/v1/chat/completions", data=body, headers={
            "Content-Type": "application/json", "Authorization": "Bearer gpu-check"})
        answer = json.loads(urllib.request.urlopen(req, timeout=60).read())["choices"][0]["message"]["content"]
        return f"served the AWQ export; answer {answer!r}"
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU visible: this script proves the GPU paths and has nothing to do here")
        return 2
    from engine.tiny import build_tiny_model
    from tests.helpers.jobs import toy_sft_rows, write_jsonl

    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = build_tiny_model(work / "model", hidden=1024, layers=12, vocab_size=512)
        data = write_jsonl(work / "toy.jsonl", toy_sft_rows(256))
        seconds, state, events = run(job("gpu-lora", model, data), work)
        loss = [e["loss"] for e in events if e.get("kind") == "metric" and "loss" in e]
        rows.append(("LoRA bf16 SFT + merge", f"{seconds:.1f} s", peak(events), f"loss {loss[0]:.2f} → {loss[-1]:.2f}"))
        seconds, state, events = run(job("gpu-qlora", model, data, method="qlora"), work)
        loss = [e["loss"] for e in events if e.get("kind") == "metric" and "loss" in e]
        rows.append(("QLoRA nf4 SFT + merge", f"{seconds:.1f} s", peak(events), f"loss {loss[0]:.2f} → {loss[-1]:.2f}"))
        export = job("gpu-awq", model, data)
        export["stages"] = ["download", "sft", "merge", "export"]
        export["export"] = {"method": "awq", "calibration_samples": 64, "calibration_max_length": 256}
        seconds, state, events = run(export, work)
        report = json.loads((work / "gpu-awq" / "export" / "report.json").read_text())
        q = report["quality"]
        rows.append(("AWQ export (+ its SFT)", f"{seconds:.1f} s", peak(events),
                     f"ppl ratio {q['ppl_ratio']:.3f}, cosine {q['logit_cosine']:.4f}, "
                     f"{report['size']['compression_ratio']:.2f}× smaller"))
        rows.append(("vLLM serve of the export", "", "", vllm_check(work / "gpu-awq" / "export")))
    name = torch.cuda.get_device_name(0)
    table = [f"GPU: {name}, torch {torch.__version__}, date {time.strftime('%Y-%m-%d')}", "",
             "| check | time | peak GPU memory | result |", "|---|---|---|---|",
             *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]]
    text = "\n".join(table)
    print(text)
    (ROOT / "bench" / "GPU.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
