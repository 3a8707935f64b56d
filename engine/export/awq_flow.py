"""The AWQ export as the stage runs it: calibrate, quantise, save, check — then plain rounding to the
same groups, which ships instead when it is clearly closer to the source (engine.export.awq says why).
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

from ..util.fs import TMP_MARK
from . import awq, calibration, groups, verify
from .job import ExportRun, free_memory
from .ladder import Variant

AWQ_BITS = awq.BITS


def describe(spec: Any, calib: Any) -> str:
    from ..data.multimodal import model_takes_images
    from ..spec.methods import EXPORT_METHODS

    e, bits = spec.export, EXPORT_METHODS[spec.export.method].bits
    vision = model_takes_images(spec.model)
    if bits != AWQ_BITS:
        return (f"W{bits}A16 ({bits}-bit weights, group {e.group_size}, symmetric) by plain rounding with "
                f"llm-compressor{' of the language model only (vision tower, projector and lm_head kept)' if vision else ''}"
                f"; no calibration, checked on {len(calib.held_out)} held-out rows")
    if vision:
        return (f"AWQ {bits}-bit (W{bits}A16, group {e.group_size}, "
                f"{'symmetric' if e.symmetric else 'asymmetric'}) of the language model only (vision tower, "
                f"projector and lm_head kept) with llm-compressor, calibrated on {len(calib.calibration)} image rows "
                f"of {calib.source}")
    return (
        f"AWQ {bits}-bit (W{bits}A16, group {e.group_size}, {'symmetric' if e.symmetric else 'asymmetric'}) "
        f"with llm-compressor, calibrated on {len(calib.calibration)} rows of {calib.source} "
        f"(≤ {e.calibration_max_length} tokens), checked against plain rounding to the same groups"
    )


def export(run: ExportRun, variant: Variant | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Quantise with AWQ (or, for an 8-bit rung of the ladder, plain rounding) into run.tmp and check it."""
    from ..training.loading import is_vision_dir, load_model

    if is_vision_dir(run.source):  # language model only, image rows, STACK's three traps: engine.export.vision
        from . import vision

        return vision.export(run, variant)

    spec, ctx, e = run.spec, run.ctx, run.spec.export
    variant = variant or Variant("AWQ")
    model = load_model(run.source, spec, ctx.hardware, ctx.hardware.precision(spec.train.precision))
    group, reason = groups.choose_group_size(variant.group_size or e.group_size,
                                             groups.quantised_widths(model, awq.IGNORE))
    ctx.emit("log", message=reason, level="info", group_size=group)
    if variant.bits != AWQ_BITS:
        return _rounded(run, model, group, reason, variant.bits)
    calib = run.calib
    if variant.samples and variant.samples != len(calib.calibration):
        calib = calibration.select(spec, variant.samples)
    if len(calib.calibration) < (variant.samples or e.calibration_samples):
        ctx.log(f"only {len(calib.calibration)} rows to calibrate on (export.calibration_samples asks "
                f"{e.calibration_samples}); the rest are held out for the quality check", level="warning")
    encoded = [calibration.encode(s, run.tokenizer, e.calibration_max_length) for s in calib.calibration]
    tokens = sum(len(r["input_ids"]) for r in encoded)
    ctx.log(f"calibrating on {len(encoded)} rows ({tokens} tokens) from {calib.source}")
    settings = awq.AwqSettings(bits=AWQ_BITS, group_size=group, symmetric=e.symmetric, max_length=e.calibration_max_length)
    awq.quantize(model, encoded, settings)
    ctx.log("saving the compressed checkpoint")
    awq.save(model, run.tokenizer, run.tmp)
    quantized = time.time()
    del model
    free_memory()
    quant = {"algorithm": "awq", "bits": AWQ_BITS, "group_size": group, "group_size_reason": reason,
             "symmetric": e.symmetric, "format": awq.FORMAT, "not_quantized": list(awq.IGNORE),
             "samples": len(encoded), "tokens": tokens, "quantized_at": quantized}
    run.watch.now("verifying against the source model")
    figures = run.checker.check(run.tmp)
    run.watch.now("round-to-nearest baseline")
    started = time.time()
    figures, quant = _against_rtn(run, settings, quant, figures)
    quant["baseline_seconds"] = round(time.time() - started, 2)
    return quant, figures


def _rounded(run: ExportRun, model: Any, group: int, reason: str, bits: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Plain round-to-nearest at `bits` (the w8a16 method and the ladder's 8-bit rung: no calibration)."""
    e = run.spec.export
    settings = awq.AwqSettings(bits=bits, group_size=group, symmetric=True, max_length=e.calibration_max_length)
    run.ctx.log(f"W{bits}A16 by plain rounding, group {group}")
    awq.quantize_rtn(model, settings)
    awq.save(model, run.tokenizer, run.tmp)
    quantized = time.time()
    del model
    free_memory()
    run.watch.now("verifying against the source model")
    figures = run.checker.check(run.tmp)
    return {"algorithm": "rtn", "bits": bits, "group_size": group, "group_size_reason": reason, "symmetric": True,
            "format": awq.FORMAT, "not_quantized": list(awq.IGNORE), "samples": 0, "tokens": 0,
            "quantized_at": quantized}, figures


def _against_rtn(run: ExportRun, settings: awq.AwqSettings, quant: dict[str, Any],
                 figures: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Quantise by plain rounding to the same groups; it ships instead of AWQ only if clearly closer to the source."""
    from ..training.loading import load_model

    ctx = run.ctx
    rtn_dir = run.tmp.parent / f"{run.tmp.name.split(TMP_MARK)[0]}{TMP_MARK}rtn-{os.getpid()}"
    shutil.rmtree(rtn_dir, ignore_errors=True)
    try:
        model = load_model(run.source, run.spec, ctx.hardware, ctx.hardware.precision(run.spec.train.precision))
        awq.quantize_rtn(model, settings)
        awq.save(model, run.tokenizer, rtn_dir)
        del model
        free_memory()
        rtn = run.checker.check(rtn_dir)
        brief = {name: {k: f[k] for k in ("ppl_export", "ppl_ratio", "logit_cosine")}
                 for name, f in (("awq", figures), ("rtn", rtn))}
        shown = f"AWQ {figures['ppl_ratio']}×, plain rounding {rtn['ppl_ratio']}× the source's perplexity"
        if verify.clearly_better(rtn, figures):
            ctx.log(f"{shown}: AWQ's scales made this model worse, so plain rounding is this candidate "
                    "(same format and size)", level="warning")
            for entry in run.tmp.iterdir():
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            for entry in rtn_dir.iterdir():
                shutil.move(str(entry), str(run.tmp / entry.name))
            return rtn, {**quant, "algorithm": "rtn", "candidates": brief}
        ctx.log(f"{shown}: AWQ is this candidate")
        return figures, {**quant, "candidates": brief}
    finally:
        shutil.rmtree(rtn_dir, ignore_errors=True)
