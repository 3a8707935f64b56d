"""The whole pipeline offline, no questions asked: SmolLM2 learns a new name, is quantised, served and asked.

--tiny runs the same stages on the random tiny model in well under a minute (what the tests use);
--wizard opens the wizard pre-filled with the demo job instead of running it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .. import demo
from ..files import EVAL_TABLE, EXPORT_REPORT, JobFiles
from ..pipeline import job_dir_for, run_job
from ..progress import Follower
from ..render import render_job, spec_from_mapping
from ..serve import process
from ..util.fs import write_text_atomic


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tiny", action="store_true", help="use the random tiny model (under a minute)")
    p.add_argument("--wizard", action="store_true", help="open the wizard pre-filled with the demo job")
    p.add_argument("--yes", action="store_true", help="accepted for symmetry: the demo never asks anything")
    p.add_argument("--port", type=int, default=8000, help="port for the demo server (a free one if taken)")
    p.add_argument("--jobs-dir", type=Path, help="where jobs/<name>/ folders go (default ./jobs)")
    p.add_argument("--vision", action="store_true",
                   help="the multimodal path instead: a tiny random vision-language model learns the built-in image "
                   "set, is exported, served and asked about a picture (offline, a few minutes)")
    p.add_argument("--heldout", type=int, default=30, help=argparse.SUPPRESS)  # --vision: held-out pictures scored
    p.add_argument("--ask", type=int, default=4, help=argparse.SUPPRESS)  # --vision: pictures sent to the server


def _tiny_model() -> Path:
    cache = Path(os.environ.get("YCDY_CACHE", Path.home() / ".cache" / "yichuidingyin"))
    path = cache / "tiny-model"
    if not (path / "config.json").exists():
        from ..tiny import build_tiny_model
        from ..util.fs import temporary_dir

        with temporary_dir(path) as tmp:
            build_tiny_model(tmp)
    return path


def _held_out_identity(url: str, name: str, key: str, spec: Any) -> None:
    """The served model asked questions that are not in its training rows: does it name itself?"""
    answers = demo.ask_probe(url, name, key, spec.dataset)
    print("\nheld-out identity questions (not in the training rows), asked through the API:")
    for _lang, question, answer, named in answers:
        print(f"  [{'named' if named else 'MISSED'}] {question} → {answer[:90]}")
    for lang in ("en", "zh"):
        part = [named for lg, _, _, named in answers if lg == lang]
        if part:
            print(f"  {'English' if lang == 'en' else 'Chinese'}: names itself in {sum(part)} of {len(part)}")


def _eval_table(job_dir: Path) -> None:
    table = JobFiles(job_dir).stage_dir("eval") / EVAL_TABLE
    if table.exists():
        print(f"\nevaluation ({table}):\n")
        print(table.read_text(encoding="utf-8").strip())


def _shipped(report: Path) -> str:
    """What the export stage shipped, from its report (the demo exports 8-bit; --tiny AWQ 4-bit)."""
    import json

    if not report.exists():
        return "not exported"
    quant = json.loads(report.read_text(encoding="utf-8")).get("quantization", {})
    return f"{quant.get('bits', '?')}-bit {quant.get('algorithm', '?').upper()}, report.json, README.md"


def main(args: argparse.Namespace) -> int:
    if args.vision:
        from .. import demo_vision

        return demo_vision.main(args)
    started = time.monotonic()
    tiny_model = _tiny_model() if args.tiny else None
    probe = spec_from_mapping(demo.demo_job(args.tiny, args.port, tiny_model), "demo")
    job_dir = job_dir_for(probe, None, args.jobs_dir)
    record = process.read_record(job_dir)
    port = record["port"] if record and process.server_up(job_dir) else demo.free_port(args.port)
    spec = spec_from_mapping(demo.demo_job(args.tiny, port, tiny_model), "demo")
    job_file = JobFiles(job_dir).job
    write_text_atomic(job_file, render_job(spec))
    if args.wizard:
        return subprocess.call([sys.executable, "-m", "wizard", "--job", str(job_file)])

    key, key_shell = demo.ensure_api_key(job_dir, spec.deploy.api_key_env)
    print(f"demo: {', '.join(spec.stage_names())} → {job_dir}", flush=True)
    with Follower(JobFiles(job_dir).events):
        state = run_job(spec, job_dir, job_file=job_file)
    served = process.read_record(job_dir) or {}
    url, name = served.get("url", f"http://127.0.0.1:{port}"), spec.served_name()
    base_dir = Path(state.stage("download")["outputs"]["path"])

    print("\nasking the base model and the served fine-tuned model the same questions…", flush=True)
    base = demo.ask_base(base_dir, demo.QUESTIONS)
    tuned = [demo.ask_server(url, name, key, q) for q in demo.QUESTIONS]
    for question, before, after in zip(demo.QUESTIONS, base, tuned, strict=True):
        print(f"\nQ: {question}\n  base model: {before}\n  fine-tuned: {after}")
    _held_out_identity(url, name, key, spec)
    _eval_table(job_dir)
    report = JobFiles(job_dir).stage_dir("export") / EXPORT_REPORT
    print(f"""
done in {time.monotonic() - started:.0f}s. Everything is in {job_dir}/:
  job.yaml (re-run: ./yichuidingyin.sh run {job_file}), sft/, dpo/, merged/, export/ ({_shipped(report)})
server: {url}  (model "{name}", API key in {key_shell if key_shell.startswith('$(') else 'your $' + spec.deploy.api_key_env})
  curl {url}/v1/chat/completions -H "Authorization: Bearer {key_shell}" \\
    -H "Content-Type: application/json" -d '{{"model": "{name}", "messages": [{{"role": "user", "content": "Who are you?"}}]}}'
stop it: ./yichuidingyin.sh stop {job_dir}""")
    return 0
