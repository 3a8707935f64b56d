"""export: a 4-bit copy of the finished model, checked against it before it ships.

The method (export.method) is a row of engine.spec.methods.EXPORT_METHODS naming the module that
quantises (awq: llm-compressor AWQ + W4A16 groups as compressed-tensors, which vLLM loads; bnb-4bit:
bitsandbytes nf4). Whatever the method, the folder is reloaded with transformers and compared with
the source on held-out rows; if its perplexity is more than export.max_ppl_ratio × the source's, the
stage fails and export/ is not written (the figures go to export.rejected.json).
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from pathlib import Path
from typing import Any

from ..context import Context, StagePlan
from ..errors import UserError
from ..export import gate
from ..export.job import ExportRun
from ..files import EXPORT_REPORT, JobFiles
from ..spec import JobSpec
from ..spec.methods import EXPORT_METHODS
from ..util.fs import temporary_dir, write_json_atomic, write_text_atomic

NAME = "export"
REPORT = EXPORT_REPORT


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
    method = EXPORT_METHODS.get(spec.export.method)
    if method is None:
        return None
    if importlib.util.find_spec(method.package) is None:
        return (f"export.method: {method.name} needs the {method.package} package; "
                f"install it with pip install {method.pin}")
    return None


def method_module(spec: JobSpec) -> Any:
    """The module that quantises with the job's export method (see engine.export.job for its calls)."""
    return importlib.import_module(EXPORT_METHODS[spec.export.method].module)


def plan(spec: JobSpec, ctx: Context) -> StagePlan:
    from ..export import calibration

    e = spec.export
    calib = calibration.select(spec)  # bad calibration data fails at plan time, not after the model loads
    what = method_module(spec).describe(spec, calib)
    return StagePlan(
        NAME,
        f"{what}; verified on {len(calib.held_out)} held-out rows: perplexity ≤ {e.max_ppl_ratio}× the source's and "
        f"behaviour score within {e.max_score_drop:g} points"
        + (", identity probe included" if gate.taught_identity(spec) else "")
        + ("; if it fails, smaller groups, more calibration rows, then 8-bit weights" if e.precision_ladder else ""),
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

    method = EXPORT_METHODS[spec.export.method]
    libraries = (method.package,) if method.calibrated else ()
    with progress.watched(ctx.emit, libraries=libraries) as watch, temporary_dir(final) as tmp:
        checker = verify.Checker(source, tokenizer, calib.held_out, spec.export.calibration_max_length, dtype, device,
                                 spec.model.trust_remote_code)
        ctx.log(f"each candidate is reloaded and compared with {source} on {len(calib.held_out)} held-out rows")
        run = ExportRun(spec=spec, ctx=ctx, source=source, tmp=tmp, tokenizer=tokenizer, calib=calib, dtype=dtype,
                        device=device, checker=checker, watch=watch)
        behaviour = gate.Behaviour.for_job(spec, source, calib.held_out, precision, device)
        if behaviour.skipped:
            ctx.log(behaviour.skipped, level="warning")
        tries = _climb(spec, ctx, run, behaviour)
        shipped = tries[-1]
        quant, figures = shipped.quant, shipped.figures
        quantized_at = quant.pop("quantized_at", started)
        report = _report(spec, source, final, tmp, quant, calib, figures, started, quantized_at)
        report["quality"].update(passed=not shipped.reasons, reasons=shipped.reasons,
                                 max_score_drop=spec.export.max_score_drop,
                                 behaviour={"source": behaviour.reference, "export": shipped.behaviour})
        report["ladder"] = [t.brief() for t in tries]
        ctx.emit(
            "metric",
            ppl_source=figures["ppl_source"],
            ppl_export=figures["ppl_export"],
            ppl_ratio=figures["ppl_ratio"],
            logit_cosine=figures["logit_cosine"],
            compression_ratio=report["size"]["compression_ratio"],
        )
        if shipped.reasons:
            write_json_atomic(rejected, report)
            raise UserError(
                f"{shipped.reasons[0]}; the export was not kept",
                *shipped.reasons[1:],
                f"tried: {', '.join(t.variant.label for t in tries)}; figures in {rejected}. Raise the limit if this "
                "loss is acceptable, give more calibration rows (export.calibration_samples), or train longer",
            )
        if len(tries) > 1:
            ctx.log(f"{shipped.variant.label} passed the gate and ships (after {len(tries) - 1} failed "
                    f"candidate{'s' if len(tries) > 2 else ''})", level="warning")
        write_json_atomic(tmp / REPORT, report)
        from ..export import card

        write_text_atomic(tmp / "README.md", card.render(spec, report, final))
    rejected.unlink(missing_ok=True)
    ctx.log(
        f"export ready: {report['size']['source_bytes'] / 1e6:.1f} MB → {report['size']['export_bytes'] / 1e6:.1f} MB, "
        f"perplexity ratio {figures['ppl_ratio']}, logit cosine {figures['logit_cosine']}"
    )
    return {"path": str(final), "report": str(final / REPORT), "ppl_ratio": figures["ppl_ratio"]}


def _climb(spec: JobSpec, ctx: Context, run: ExportRun, behaviour: Any) -> list[Any]:
    """The first candidate, then the ladder's rungs until one passes the gate (perplexity and behaviour)."""
    from ..export import gate, ladder

    module = method_module(spec)
    method = EXPORT_METHODS[spec.export.method]

    def attempt(variant: Any) -> Any:
        if any(run.tmp.iterdir()):
            ladder.clear(run.tmp)
        quant, figures = module.export(run, variant)
        reasons = gate.judge(spec, figures, None, None)
        scored = None
        if not reasons and behaviour.active:
            run.watch.now(f"behaviour check: {variant.label}")
            reference = behaviour.source_score()
            scored = behaviour.score(run.tmp)
            reasons = gate.judge(spec, figures, scored, reference)
            ctx.log(f"{variant.label}: behaviour score {scored['score']} (unquantised {reference['score']})")
        return ladder.Try(variant, quant, figures, scored, reasons)

    first = ladder.Variant(method.title, bits=method.bits)
    return ladder.climb(first, attempt, lambda t: ladder.next_variants(spec, t.quant, run.calib.available), ctx.log)


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
