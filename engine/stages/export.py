"""export: a 4-bit copy of the finished model, checked against it before it ships.

awq: llm-compressor AWQ + W4A16 groups, saved as compressed-tensors (vLLM loads it directly).
bnb-4bit: bitsandbytes nf4, saved 4-bit. Either way the folder is reloaded with transformers and
compared with the source on held-out rows; if its perplexity is more than export.max_ppl_ratio ×
the source's, the stage fails and export/ is not written (the figures go to export.rejected.json).
"""

from __future__ import annotations

import gc
import importlib.util
import os
import shutil
import time
from pathlib import Path
from typing import Any

from ..context import Context, StagePlan
from ..files import EXPORT_REPORT, JobFiles
from ..spec import JobSpec
from ..util.fs import TMP_MARK, temporary_dir, write_json_atomic, write_text_atomic

NAME = "export"
REPORT = EXPORT_REPORT
PACKAGES = {"awq": ("llmcompressor", "llmcompressor==0.14.0.1"), "bnb-4bit": ("bitsandbytes", "bitsandbytes==0.50.2")}


def spec_slice(spec: JobSpec) -> Any:
    data: dict[str, Any] = {
        "export": spec.export.model_dump(mode="json"),
        "trust_remote_code": spec.model.trust_remote_code,
        "precision": spec.train.precision,
    }
    if not spec.export.calibration_dataset:  # calibration and held-out rows come from the job's own data
        data["dataset"] = spec.dataset.model_dump(mode="json", exclude={"preference"})
        data["seed"] = spec.train.seed
    return data


def outputs(spec: JobSpec, job_dir: Path) -> list[Path]:
    folder = JobFiles(job_dir).stage_dir(NAME)
    return [folder, folder / REPORT]


def current(spec: JobSpec, job_dir: Path) -> bool:
    return True


def unavailable(spec: JobSpec) -> str | None:
    if spec.export.method not in PACKAGES:
        return None
    module, pin = PACKAGES[spec.export.method]
    if importlib.util.find_spec(module) is None:
        return f"export.method: {spec.export.method} needs the {module} package; install it with pip install {pin}"
    return None


def plan(spec: JobSpec, ctx: Context) -> StagePlan:
    from ..export import calibration

    e = spec.export
    calib = calibration.select(spec)  # bad calibration data fails at plan time, not after the model loads
    if e.method == "awq":
        what = (
            f"AWQ {e.bits}-bit (W{e.bits}A16, group {e.group_size}, {'symmetric' if e.symmetric else 'asymmetric'}) "
            f"with llm-compressor, calibrated on {len(calib.calibration)} rows of {calib.source} "
            f"(≤ {e.calibration_max_length} tokens), checked against plain rounding to the same groups"
        )
    else:
        what = "bitsandbytes 4-bit (nf4, double quantisation), no calibration"
    return StagePlan(
        NAME,
        f"{what}; verified on {len(calib.held_out)} held-out rows, perplexity ≤ {e.max_ppl_ratio}× the source's",
        [str(ctx.files.stage_dir(NAME))],
        estimate={"calibration_rows": len(calib.calibration), "held_out_rows": len(calib.held_out)},
    )


def run(spec: JobSpec, ctx: Context) -> dict[str, Any]:
    from ..export import calibration, progress, verify
    from ..training import quiet_libraries
    from ..training.loading import load_tokenizer, torch_dtype

    quiet_libraries()
    started = time.time()
    source = ctx.model_dir()
    final = ctx.files.stage_dir(NAME)
    rejected = ctx.files.export_rejected
    calib = calibration.select(spec)
    precision = ctx.hardware.precision(spec.train.precision)
    dtype = torch_dtype(precision)
    device = "cuda" if ctx.hardware.gpus else "cpu"
    tokenizer = load_tokenizer(source, spec)
    if final.exists():  # made under other settings; it must not look done if this run fails
        shutil.rmtree(final)
        ctx.log(f"removed the previous {final.name}/ (made under other settings)")
    ctx.log(f"exporting {source} with {spec.export.method} ({precision}, {device})")

    libraries = ("llmcompressor",) if spec.export.method == "awq" else ()
    with progress.watched(ctx.emit, libraries=libraries) as watch, temporary_dir(final) as tmp:
        quant, settings = _quantize(spec, ctx, source, tmp, tokenizer, calib, dtype)
        quantized_at = time.time()
        watch.now("verifying against the source model")
        ctx.log(f"reloading {final.name}/ and comparing it with {source} on {len(calib.held_out)} held-out rows")
        checker = verify.Checker(source, tokenizer, calib.held_out, spec.export.calibration_max_length, dtype, device,
                                 spec.model.trust_remote_code)
        figures = checker.check(tmp)
        if settings is not None:
            watch.now("round-to-nearest baseline")
            baseline_at = time.time()
            figures, quant = _against_rtn(spec, ctx, source, tmp, tokenizer, settings, quant, figures, checker)
            quant["baseline_seconds"] = round(time.time() - baseline_at, 2)
        report = _report(spec, source, final, tmp, quant, calib, figures, started, quantized_at)
        ctx.emit(
            "metric",
            ppl_source=figures["ppl_source"],
            ppl_export=figures["ppl_export"],
            ppl_ratio=figures["ppl_ratio"],
            logit_cosine=figures["logit_cosine"],
            compression_ratio=report["size"]["compression_ratio"],
        )
        if not report["quality"]["passed"]:
            write_json_atomic(rejected, report)
        verify.gate(figures, spec.export.max_ppl_ratio, rejected)
        write_json_atomic(tmp / REPORT, report)
        from ..export import card

        write_text_atomic(tmp / "README.md", card.render(spec, report, final))
    rejected.unlink(missing_ok=True)
    ctx.log(
        f"export ready: {report['size']['source_bytes'] / 1e6:.1f} MB → {report['size']['export_bytes'] / 1e6:.1f} MB, "
        f"perplexity ratio {figures['ppl_ratio']}, logit cosine {figures['logit_cosine']}"
    )
    return {"path": str(final), "report": str(final / REPORT), "ppl_ratio": figures["ppl_ratio"]}


def _quantize(
    spec: JobSpec, ctx: Context, source: Path, tmp: Path, tokenizer: Any, calib: Any, dtype: Any
) -> tuple[dict[str, Any], Any]:
    """Write the quantised model to `tmp`; return what the report says about it (and the AWQ settings)."""
    from ..export import awq, bnb, calibration, groups
    from ..training.loading import load_model

    if spec.export.method == "bnb-4bit":
        model = bnb.quantize(source, dtype, spec.model.trust_remote_code, "cuda" if ctx.hardware.gpus else "cpu")
        bnb.save(model, tokenizer, tmp)
        ctx.emit("progress", step=1, total=1, unit="model", message="quantised on load and saved")
        del model
        _free()
        return {"algorithm": "nf4", "bits": 4, "group_size": None,
                "group_size_reason": "nf4 uses blocks of 64, any width works", "symmetric": None,
                "format": bnb.FORMAT, "not_quantized": list(bnb.IGNORE), "samples": 0}, None

    model = load_model(source, spec, ctx.hardware, ctx.hardware.precision(spec.train.precision))
    group, reason = groups.choose_group_size(spec.export.group_size, groups.quantised_widths(model, awq.IGNORE))
    ctx.emit("log", message=reason, level="info", group_size=group)
    e = spec.export
    if len(calib.calibration) < e.calibration_samples:
        ctx.log(f"only {len(calib.calibration)} rows to calibrate on (export.calibration_samples asks "
                f"{e.calibration_samples}); the rest are held out for the quality check", level="warning")
    encoded = [calibration.encode(s, tokenizer, e.calibration_max_length) for s in calib.calibration]
    tokens = sum(len(r["input_ids"]) for r in encoded)
    ctx.log(f"calibrating on {len(encoded)} rows ({tokens} tokens) from {calib.source}")
    settings = awq.AwqSettings(bits=e.bits, group_size=group, symmetric=e.symmetric, max_length=e.calibration_max_length)
    awq.quantize(model, encoded, settings)
    ctx.log("saving the compressed checkpoint")
    awq.save(model, tokenizer, tmp)
    del model
    _free()
    return {"algorithm": "awq", "bits": e.bits, "group_size": group, "group_size_reason": reason,
            "symmetric": e.symmetric, "format": awq.FORMAT, "not_quantized": list(awq.IGNORE),
            "samples": len(encoded), "tokens": tokens}, settings


def _against_rtn(
    spec: JobSpec, ctx: Context, source: Path, tmp: Path, tokenizer: Any, settings: Any,
    quant: dict[str, Any], figures: dict[str, Any], checker: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Quantise by plain rounding to the same groups; it ships instead of AWQ only if clearly closer to the source."""
    from ..export import awq, verify
    from ..training.loading import load_model

    rtn_dir = ctx.job_dir / f"{NAME}{TMP_MARK}rtn-{os.getpid()}"
    shutil.rmtree(rtn_dir, ignore_errors=True)
    try:
        model = load_model(source, spec, ctx.hardware, ctx.hardware.precision(spec.train.precision))
        awq.quantize_rtn(model, settings)
        awq.save(model, tokenizer, rtn_dir)
        del model
        _free()
        rtn = checker.check(rtn_dir)
        brief = {name: {k: f[k] for k in ("ppl_export", "ppl_ratio", "logit_cosine")}
                 for name, f in (("awq", figures), ("rtn", rtn))}
        shown = f"AWQ {figures['ppl_ratio']}×, plain rounding {rtn['ppl_ratio']}× the source's perplexity"
        if verify.clearly_better(rtn, figures):
            ctx.log(f"{shown}: AWQ's scales made this model worse, so the plain-rounding export ships "
                    "(same format and size)", level="warning")
            for entry in tmp.iterdir():
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            for entry in rtn_dir.iterdir():
                shutil.move(str(entry), str(tmp / entry.name))
            return rtn, {**quant, "algorithm": "rtn", "candidates": brief}
        ctx.log(f"{shown}: AWQ ships")
        return figures, {**quant, "candidates": brief}
    finally:
        shutil.rmtree(rtn_dir, ignore_errors=True)


def _report(
    spec: JobSpec, source: Path, final: Path, tmp: Path, quant: dict[str, Any], calib: Any,
    figures: dict[str, Any], started: float, quantized_at: float,
) -> dict[str, Any]:
    """report.json: every figure an operator (or a later stage) needs to trust the export."""
    from ..export import verify

    before, after = verify.weight_bytes(source), verify.weight_bytes(tmp)
    ratio = figures["ppl_ratio"]
    return {
        "method": spec.export.method,
        "source_dir": str(source),
        "export_dir": str(final),
        "size": {"source_bytes": before, "export_bytes": after,
                 "compression_ratio": round(before / after, 3) if after else None},
        "quantization": {k: v for k, v in quant.items() if k not in ("samples", "tokens", "baseline_seconds")},
        "calibration": {"source": calib.source, "samples": quant["samples"], "tokens": quant.get("tokens", 0),
                        "max_length": spec.export.calibration_max_length, "held_out_rows": len(calib.held_out)},
        "quality": {**figures, "max_ppl_ratio": spec.export.max_ppl_ratio,
                    "passed": ratio is not None and ratio <= spec.export.max_ppl_ratio},
        "seconds": {"quantize": round(quantized_at - started, 2),
                    "rtn_baseline": quant.get("baseline_seconds", 0.0),
                    "verify": round(time.time() - quantized_at - quant.get("baseline_seconds", 0.0), 2),
                    "total": round(time.time() - started, 2)},
        "versions": _versions(),
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "transformers", "llmcompressor", "compressed-tensors", "bitsandbytes"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def _free() -> None:
    """Give memory back between the models (the caller has dropped its reference)."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
