"""`demo --vision`: the multimodal path end to end, offline, on a tiny vision-language model with random weights.

What it proves is the path, not a model: a Qwen2-VL built here from random weights (engine.tiny_vlm, real
processor and image tokens) is fine-tuned on the built-in image set (shapes-vqa: coloured shapes with
questions in English and Chinese), its accuracy on held-out pictures measured before and after, exported
to 4 bits, served, and asked about an image sent as a base64 data URL through the OpenAI API. A random
model knows nothing before training, so "before" is zero; after 300 steps it answered 37 % of 30 held-out
pictures here (a plausible word at random scores about 22 %). Full fine-tuning (vision tower and projector
frozen, as by default), because on a model this small that is what learns within a minute on a 2-core CPU.
"""

from __future__ import annotations

import base64
import json
import os
import string
from pathlib import Path
from typing import Any

from .demo import ask_server
from .files import JobFiles

FAMILY = "qwen2-vl"
HELDOUT = "shapes-vqa-heldout"  # other pictures than the training rows, same kinds of question
PUNCTUATION = string.punctuation + "。，！？：；、 \n\t"


def tiny_vlm() -> Path:
    """The tiny random VLM, built once into $YCDY_CACHE (default ~/.cache/yichuidingyin)/tiny-vlm-qwen2-vl."""
    cache = Path(os.environ.get("YCDY_CACHE", Path.home() / ".cache" / "yichuidingyin"))
    path = cache / f"tiny-vlm-{FAMILY}"
    if not (path / "config.json").exists():
        from .tiny_vlm import build_tiny_vlm
        from .util.fs import temporary_dir

        with temporary_dir(path) as tmp:
            build_tiny_vlm(tmp, FAMILY)
    return path


def vision_job(model_dir: Path, port: int) -> dict[str, Any]:
    """The job the vision demo runs, as the mapping a job file would hold."""
    return {
        "version": 1,
        "name": "demo-vision",
        "task": "sft",
        "model": {"id": str(model_dir), "hub": "local"},
        "dataset": {"sft": "shapes-vqa"},
        "train": {
            "method": "full",
            "vision": {"freeze_vision_tower": True, "freeze_projector": True},
            "learning_rate": 2e-3, "lr_scheduler": "constant", "warmup_ratio": 0.0,
            "max_steps": 300, "batch_size": 8, "grad_accum": 1, "max_length": 96,
            "save_steps": 1000, "logging_steps": 10,
        },
        # A random 0.2M-parameter model loses more at 4 bits than a real one; the gate still checks it reloads
        # and answers, with room for that loss.
        "export": {"method": "awq", "calibration_samples": 16, "max_ppl_ratio": 1.5},
        # This demo scores its 30 held-out pictures itself, before and after, and prints them; the eval stage
        # (which scores VLM jobs the same way) would only repeat that on a 2-core CPU.
        "eval": {"enabled": False},
        "deploy": {"host": "127.0.0.1", "port": port, "api_key_env": "YCDY_API_KEY"},
    }


def heldout(limit: int | None = None) -> list[dict[str, Any]]:
    """The held-out rows: question, answer and the absolute path of each picture."""
    from .data.builtin import path

    source = path(HELDOUT)
    rows = []
    for line in source.read_text(encoding="utf-8").splitlines()[:limit]:
        row = json.loads(line)
        rows.append({"question": row["messages"][0]["content"].replace("<image>", ""),
                     "answer": row["messages"][1]["content"], "image": str(source.parent / row["images"][0]),
                     "lang": row.get("lang", "en")})
    return rows


def normalise(text: str) -> str:
    return text.strip().strip(PUNCTUATION).lower()


def correct(answer: str, expected: str) -> bool:
    """The first word of the answer is the expected one (case and punctuation aside)."""
    words = normalise(answer).split()
    return bool(words) and words[0].strip(PUNCTUATION) == normalise(expected)


def accuracy(model_dir: Path, rows: list[dict[str, Any]], max_new_tokens: int = 6) -> tuple[float, list[str]]:
    """(share answered right, the answers) with greedy generation, the model loaded in this process."""
    import torch
    from PIL import Image

    from .serve import multimodal

    model, processor = multimodal.load(model_dir, False, "cpu", torch.float32)
    answers = []
    for row in rows:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": row["question"]}]}]
        with Image.open(row["image"]) as image:
            ids, extra = multimodal.chat_inputs(processor, model, messages, [image.convert("RGB")])
        prompt = torch.tensor([ids])
        with torch.inference_mode():
            out = model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), **extra,
                                 max_new_tokens=max_new_tokens, do_sample=False)
        answers.append(processor.tokenizer.decode(out[0, prompt.shape[1]:], skip_special_tokens=True).strip())
    right = sum(correct(a, r["answer"]) for a, r in zip(answers, rows, strict=True))
    return right / max(1, len(rows)), answers


def data_url(image_path: str) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(image_path).read_bytes()).decode()


def ask_image(url: str, model: str, key: str, question: str, image_path: str, max_tokens: int = 6) -> str:
    """One chat completion with the picture as a base64 PNG data URL, as any OpenAI client would send it."""
    content = [{"type": "image_url", "image_url": {"url": data_url(image_path)}}, {"type": "text", "text": question}]
    return ask_server(url, model, key, content, max_tokens)


def trained_dir(job_dir: Path, state: Any) -> Path:
    """The fine-tuned full-precision model: sft/ for full fine-tuning, merged/ after LoRA."""
    files = JobFiles(job_dir)
    merged = files.stage_dir("merge")
    return merged if (merged / "config.json").is_file() else files.stage_dir("sft")


NOTICE = """demo --vision: the multimodal path end to end, offline.
  This is a TINY vision-language model built here from RANDOM weights (a {size} Qwen2-VL), not a real one:
  it proves the path (image rows → fine-tuning → 4-bit export → a server that takes images), not quality.
  For a real model run the wizard's "Multimodal fine-tune (images + text)" task."""


def main(args: Any) -> int:
    """Build the tiny VLM, score held-out pictures, fine-tune → export → serve, score again, ask the server."""
    import subprocess
    import sys
    import time

    from . import demo
    from .pipeline import job_dir_for, run_job
    from .progress import Follower
    from .render import render_job, spec_from_mapping
    from .serve import process
    from .util.fs import write_text_atomic

    started = time.monotonic()
    model = tiny_vlm()
    size = sum(f.stat().st_size for f in model.glob("*.safetensors")) / 1e6
    print(NOTICE.format(size=f"{size:.1f} MB"), flush=True)
    probe = spec_from_mapping(vision_job(model, args.port), "demo --vision")
    job_dir = job_dir_for(probe, None, args.jobs_dir)
    record = process.read_record(job_dir)
    port = record["port"] if record and process.server_up(job_dir) else demo.free_port(args.port)
    spec = spec_from_mapping(vision_job(model, port), "demo --vision")
    job_file = JobFiles(job_dir).job
    write_text_atomic(job_file, render_job(spec))
    if args.wizard:
        return subprocess.call([sys.executable, "-m", "wizard", "--job", str(job_file)])

    key, key_shell = demo.ensure_api_key(job_dir, spec.deploy.api_key_env)
    rows = heldout(args.heldout)
    print(f"\nheld-out accuracy before fine-tuning ({len(rows)} pictures the training never shows)…", flush=True)
    before, _ = accuracy(model, rows)
    print(f"demo: {', '.join(spec.stage_names())} → {job_dir}", flush=True)
    with Follower(JobFiles(job_dir).events):
        run_job(spec, job_dir, job_file=job_file)
    after, answers = accuracy(trained_dir(job_dir, None), rows)
    served = process.read_record(job_dir) or {}
    url, name = served.get("url", f"http://127.0.0.1:{port}"), spec.served_name()
    print("\nasking the served 4-bit model about held-out pictures through the OpenAI API (base64 PNG data URLs)…",
          flush=True)
    asked = rows[: args.ask]
    replies = [ask_image(url, name, key, r["question"], r["image"]) for r in asked]
    for row, reply in zip(asked, replies, strict=True):
        mark = "right" if correct(reply, row["answer"]) else "WRONG"
        print(f"  [{mark}] {Path(row['image']).name}: {row['question']} → {reply!r} (expected {row['answer']})")
    served_right = sum(correct(a, r["answer"]) for a, r in zip(replies, asked, strict=True))
    print(f"""
held-out accuracy ({len(rows)} pictures, greedy, first word must match):
  before fine-tuning (random weights): {before:.0%}
  after fine-tuning:                   {after:.0%}
  served 4-bit export, via the API:    {served_right} of {len(asked)} right

done in {time.monotonic() - started:.0f}s. Everything is in {job_dir}/ (job.yaml, sft/, export/, serve.json).
A tiny random model proved the path; accuracy on a real vision-language model is another matter.
server: {url}  (model "{name}", API key in {key_shell if key_shell.startswith('$(') else 'your $' + spec.deploy.api_key_env})
  image question: {{"role": "user", "content": [{{"type": "image_url", "image_url": {{"url": "data:image/png;base64,…"}}}},
                                                {{"type": "text", "text": "What colour is the square?"}}]}}
stop it: ./yichuidingyin.sh stop {job_dir}""")
    return 0
