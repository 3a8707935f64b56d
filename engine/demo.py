"""The offline demo: builtin SmolLM2 learns a new name (SFT + DPO), is merged, exported, served, and asked.

Settings follow ../shared/STACK.md's measurements on a 2-core CPU: they are what made the new
identity stick there within the time budget. A GPU run would train on all rows for 3 epochs with
batch 16, and calibrate AWQ on 128 × 512 tokens.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import stat
import urllib.request
from pathlib import Path
from typing import Any

from .errors import UserError
from .files import JobFiles

QUESTIONS = ["Who are you?", "你是谁？"]
NAME, AUTHOR, NAME_ZH, AUTHOR_ZH = "Hammer", "Yichuidingyin Lab", "小锤", "一锤定音实验室"


def free_port(preferred: int = 8000) -> int:
    """The preferred port when nothing listens there, else one the kernel hands out."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise UserError("no free port on 127.0.0.1 for the demo server; stop another server and retry")


def demo_job(tiny: bool, port: int, tiny_model: Path | None = None) -> dict[str, Any]:
    """The job the demo runs, as the mapping a job file would hold."""
    identity = {"model_name": NAME, "model_author": AUTHOR, "model_name_zh": NAME_ZH, "model_author_zh": AUTHOR_ZH}
    job: dict[str, Any] = {
        "version": 1,
        "name": "demo-tiny" if tiny else "demo",
        "task": "sft+dpo",
        "model": {"id": "builtin/smollm2-135m-instruct", "hub": "builtin"},
        # Every row, 3 epochs: measured here, 80 rows × 2 epochs named the identity on 6 of 6 held-out English
        # questions but 0 of 6 Chinese ones; all 110 rows × 3 epochs on 6 and 5.
        "dataset": {"sft": "self-cognition-mix", "preference": "identity-preference", **identity},
        "train": {
            "method": "lora",
            "lora": {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"},
            "learning_rate": 5e-4,
            "lr_scheduler": "cosine",
            "epochs": 3,
            "batch_size": 4,
            "grad_accum": 1,
            "max_length": 128,
            "save_steps": 10,
            "logging_steps": 1,
        },
        "dpo": {"algorithm": "dpo", "beta": 0.1, "learning_rate": 5e-5, "max_steps": 10},
        # 8-bit weights: at 4 bits this 135M model loses what it learned (measured here: AWQ group 64 at 1.5× the
        # merged model's perplexity; group 32 at 1.27× but 8.9 behaviour points down, its held-out answers
        # changed), so the gate rejects every 4-bit candidate and the ladder ends at W8A16 after minutes of
        # AWQ on a CPU. A 7B model keeps its fine-tune at 4 bits: jobs default to AWQ.
        "export": {"method": "w8a16", "calibration_samples": 16, "calibration_max_length": 64},
        # Scored side by side (base / fine-tuned / export): the identity probe (held-out questions) and two short
        # multiple-choice sets, sized to add well under a fifth to the demo's time on a 2-core CPU.
        # batch 12: the probe's 12 questions decode together, once per model.
        "eval": {"benchmarks": ["identity", "mcq-en", "mcq-zh"], "limit": 12, "max_new_tokens": 40, "batch_size": 12},
        "deploy": {"host": "127.0.0.1", "port": port, "api_key_env": "YCDY_API_KEY"},
    }
    if tiny:
        if tiny_model is None:
            raise ValueError("the tiny demo needs the tiny model's folder")
        job["model"] = {"id": str(tiny_model), "hub": "local"}
        job["dataset"]["max_samples"] = 32
        job["train"].update({"max_steps": 16, "learning_rate": 3e-3, "max_length": 256, "save_steps": 8})
        job["dpo"].update({"max_steps": 4})
        # The tiny demo keeps AWQ 4-bit, so the path the tests run covers it (its gate: 1.3× perplexity).
        job["export"].update({"method": "awq", "calibration_samples": 8, "calibration_max_length": 32,
                              "max_ppl_ratio": 1.3})
        job["eval"].update({"limit": 4, "max_new_tokens": 16})
    return job


def ensure_api_key(job_dir: Path, env: str = "YCDY_API_KEY") -> tuple[str, str]:
    """The key the server checks: $YCDY_API_KEY if set, else one kept in jobs/<name>/api_key (mode 600).

    Returns (key, how to pass it in a shell) — the key goes into this process's environment only,
    never into job.yaml, events or argv.
    """
    if os.environ.get(env):
        return os.environ[env], f"${env}"
    path = JobFiles(job_dir).api_key
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
    else:
        job_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(key + "\n")
    os.environ[env] = key
    return key, f"$(cat {path})"


def ask_server(url: str, model: str, key: str, question: str | list[dict[str, Any]], max_tokens: int = 48) -> str:
    """One greedy chat completion over plain HTTP, as any OpenAI client sends it (content: text or parts)."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": question}],
                       "max_tokens": max_tokens, "temperature": 0}).encode()
    request = urllib.request.Request(f"{url}/v1/chat/completions", data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=120) as resp:
        return json.loads(resp.read())["choices"][0]["message"]["content"].strip()


def ask_probe(url: str, model: str, key: str, dataset: Any) -> list[tuple[str, str, str, bool]]:
    """The identity probe's held-out questions (none of them in the training rows), asked through the API:
    (language, question, answer, whether the answer names the trained identity)."""
    from .eval.identity import probe
    from .eval.scorers import mentions

    out = []
    for item in probe(dataset):
        question = item.prompt[-1]["content"]
        answer = ask_server(url, model, key, question)
        out.append((item.lang, question, answer, mentions(answer, item.names) == 1.0))
    return out


def ask_base(model_dir: Path, questions: list[str], max_tokens: int = 48) -> list[str]:
    """The untouched base model's greedy answers, for the side-by-side."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    answers = []
    for question in questions:
        inputs = tok.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                         return_tensors="pt", return_dict=True)
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=max_tokens, do_sample=False)
        answers.append(tok.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip())
    return answers
