"""Size and quality of the 4-bit exports against the model they came from, through the real export stage.

    .venv/bin/python bench/export.py                 # SmolLM2-135M-Instruct (builtin), AWQ, 16 rows x 64 tokens
    .venv/bin/python bench/export.py --bnb           # also bitsandbytes nf4, for comparison
    .venv/bin/python bench/export.py --tiny          # the random tiny model (seconds; for a smoke run)

It runs a task-export job (download → export) in a temporary jobs folder with the engine's own
pipeline, so the figures are exactly those the stage writes to report.json: bytes of weights on
disk before and after, their ratio, perplexity of each model on held-out rows and the ratio the
quality gate checks, mean logit cosine, top-token agreement, one greedy answer each, and seconds.
Not a timed test: run it by hand and copy the table into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
SMOLLM = "builtin/smollm2-135m-instruct"


def model_folder(tiny: bool, work: Path) -> tuple[str, Path]:
    """SmolLM2-135M from the builtin registry when it can be prepared here, else the random tiny model."""
    if not tiny:
        try:
            from engine.registry import builtin

            return SMOLLM, builtin.ensure(builtin.get(SMOLLM), log=print)
        except Exception as exc:  # noqa: BLE001 - a bench falls back and says why
            print(f"{SMOLLM} is not available here ({exc}); using the tiny model", file=sys.stderr)
    from engine.tiny import build_tiny_model

    return "tiny (random 2-layer Llama)", build_tiny_model(work / "tiny-model")


def run_export(name: str, model: Path, export: dict, work: Path) -> dict:
    from engine.pipeline import run_job
    from engine.spec import JobSpec

    spec = JobSpec.model_validate({
        "name": name, "task": "export", "stages": ["download", "export"],
        "model": {"id": str(model), "hub": "local"}, "export": export,
    })
    job_dir = work / "jobs" / name
    started = time.time()
    run_job(spec, job_dir)
    report = json.loads((job_dir / "export" / "report.json").read_text())
    report["wall_s"] = round(time.time() - started, 1)
    return report


def calibration_set() -> str | None:
    """The builtin general Q&A chats when present: closer to what a chat model serves than plain prose."""
    try:
        from engine.data import builtin

        return "general-qa" if builtin.is_builtin("general-qa") else None
    except ImportError:
        return None


def row(label: str, r: dict) -> str:
    s, q = r["size"], r["quality"]
    return (
        f"| {label} | {s['source_bytes'] / 1e6:.1f} → {s['export_bytes'] / 1e6:.1f} MB | {s['compression_ratio']:.2f}× | "
        f"{q['ppl_source']:.3f} → {q['ppl_export']:.3f} | {q['ppl_ratio']:.3f} | {q['logit_cosine']:.4f} | "
        f"{q['top1_agreement']:.3f} | {r['seconds']['quantize']:.0f} s + {r['seconds']['verify']:.0f} s |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="use the random tiny model")
    parser.add_argument("--bnb", action="store_true", help="also export with bitsandbytes nf4")
    parser.add_argument("--samples", type=int, default=16, help="calibration rows (default 16)")
    parser.add_argument("--max-length", type=int, default=64, help="tokens per calibration row (default 64)")
    parser.add_argument("--group-size", default="auto", help="auto, 128, 64 or 32")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ycdy-bench-export-") as tmp:
        work = Path(tmp)
        os.environ.setdefault("YCDY_JOBS_DIR", str(work / "jobs"))
        label, model = model_folder(args.tiny, work)
        common = {"calibration_samples": args.samples, "calibration_max_length": args.max_length,
                  "max_ppl_ratio": 100.0}  # measure, do not gate: the bench reports whatever comes out
        calib = calibration_set()
        if calib:
            common["calibration_dataset"] = calib
        group = args.group_size if args.group_size == "auto" else int(args.group_size)
        reports = {"awq": run_export("bench-awq", model, {"method": "awq", "group_size": group, **common}, work)}
        if args.bnb:
            reports["bnb-4bit"] = run_export("bench-bnb", model, {"method": "bnb-4bit", **common}, work)

    awq = reports["awq"]
    print(f"\nmodel: {label}; calibration: {awq['calibration']['samples']} rows "
          f"({awq['calibration']['tokens']} tokens) of {awq['calibration']['source']}; "
          f"held out: {awq['calibration']['held_out_rows']} rows ({awq['quality']['held_out_tokens']} tokens)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; " +
          ", ".join(f"{k} {v}" for k, v in awq["versions"].items()))
    print("\n| export | weights on disk | smaller by | perplexity source → export | ratio | logit cosine "
          "| top-1 agreement | quantise + verify |")
    print("|---|---|---|---|---|---|---|---|")
    for method, report in reports.items():
        q = report["quantization"]
        extra = f", group {q['group_size']}" if q["group_size"] else ""
        print(row(f"{method} (shipped: {q['algorithm']}){extra}", report))
    for name, figures in awq["quantization"].get("candidates", {}).items():
        print(f"  candidate {name}: perplexity {figures['ppl_export']}, ratio {figures['ppl_ratio']}, "
              f"logit cosine {figures['logit_cosine']}")
    print(f"\nprompt: {awq['quality']['prompt']!r}")
    print(f"source: {awq['quality']['generation_source']!r}")
    for method, report in reports.items():
        print(f"{method}: {report['quality']['generation_export']!r}")
    from bench._common import report as result_line

    figures: dict[str, float | int | str] = {}
    for method, rep in reports.items():
        q = rep["quality"]
        figures[f"{method}_shipped"] = rep["quantization"]["algorithm"]
        figures[f"{method}_size_ratio"] = rep["size"]["compression_ratio"]
        figures[f"{method}_ppl_ratio"] = q["ppl_ratio"]
        figures[f"{method}_logit_cosine"] = q["logit_cosine"]
        for name, cand in rep["quantization"].get("candidates", {}).items():
            figures[f"{method}_candidate_{name}_ppl_ratio"] = cand["ppl_ratio"]
    result_line(figures, [f"model: {label}; calibration {awq['calibration']['samples']} rows × "
                          f"{args.max_length} tokens; source answers {awq['quality']['generation_source']!r}"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
