"""The model card (README.md) of an export: what it is, where it came from, how good it is, how to serve it.

Rendered from templates/model_card.md.j2 with StrictUndefined, so a field the template names but
this code forgets fails the export instead of shipping a card with holes.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from ..spec import JobSpec
from ..spec.methods import EXPORT_METHODS


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def context(spec: JobSpec, report: dict[str, Any], export_dir: Path) -> dict[str, Any]:
    stages = spec.stage_names()
    trained = any(s in stages for s in ("sft", "dpo"))
    q = report["quantization"]
    quality, size = report["quality"], report["size"]
    lora = spec.train.lora.model_dump() if spec.train.method in ("lora", "qlora") else None
    return {
        "job_name": spec.name,
        "served_name": spec.served_name(),
        "base_model": spec.model.id,
        "hub": spec.model.hub,
        "revision": spec.model.revision,
        "source_dir": report["source_dir"],
        "trained": trained,
        "train_method": spec.train.method,
        "train": spec.train.model_dump(),
        "lora": lora,
        "dpo": spec.dpo.model_dump() if "dpo" in stages else None,
        "sft_data": spec.dataset.sft or "none",
        "preference_data": spec.dataset.preference if "dpo" in stages else None,
        "data_format": spec.dataset.format,
        "stages": stages,
        "method": spec.export.method,
        "method_title": _title(spec, q),
        "implementation": _implementation(spec, q),
        "algorithm_text": _algorithm_text(q),
        "format": q["format"],
        "bits": q["bits"],
        "group_size_text": q["group_size"] if q["group_size"] is not None else "blocks of 64 (nf4)",
        "symmetric": {True: "yes", False: "no", None: "n/a (nf4 code book, absmax scaled)"}[q["symmetric"]],
        "ignored": q["not_quantized"],
        "calibration_text": _calibration_text(report["calibration"]),
        "held_out_rows": report["calibration"]["held_out_rows"],
        "prompt": quality.get("prompt", ""),
        "size_before": _mb(size["source_bytes"]),
        "size_after": _mb(size["export_bytes"]),
        "compression_ratio": size["compression_ratio"],
        "max_ppl_ratio": spec.export.max_ppl_ratio,
        "export_dir_q": shlex.quote(str(export_dir)),
        "served_name_q": shlex.quote(spec.served_name()),
        "api_key_env": spec.deploy.api_key_env,
        "vllm_flags": " --quantization bitsandbytes" if spec.export.method == "bnb-4bit" else "",
        **{k: quality[k] for k in ("ppl_source", "ppl_export", "ppl_ratio", "logit_cosine", "top1_agreement")},
        "generation_source": quality["generation_source"],
        "behaviour_text": _behaviour_text(quality, spec.export.max_score_drop),
        "identity_probe": "identity" in ((quality.get("behaviour") or {}).get("source") or {}).get("parts", {}),
        "ladder": report.get("ladder", []),
        "generation_export": quality["generation_export"],
    }


def _algorithm_text(q: dict[str, Any]) -> str:
    found = q.get("candidates")
    if q.get("algorithm") == "nf4":
        return "nf4 code book, absmax-scaled blocks"
    if not found:
        return "AWQ scales, then round-to-nearest"
    awq, rtn = found["awq"]["ppl_ratio"], found["rtn"]["ppl_ratio"]
    if q.get("algorithm") == "rtn":
        return (f"round-to-nearest: AWQ's scales left perplexity at {awq}× the source's, plain rounding to the "
                f"same groups at {rtn}×, so this one shipped")
    return f"AWQ scales, then round-to-nearest (perplexity {awq}× the source's; plain rounding alone: {rtn}×)"


def _behaviour_text(quality: dict[str, Any], max_drop: float) -> str:
    b = quality.get("behaviour") or {}
    source, export = b.get("source"), b.get("export")
    if not source or not export:
        return "not scored (no held-out conversations in the job's data)"
    return f"{source['score']} → {export['score']} (allowed drop ≤ {max_drop:g} points)"


def _calibration_text(calib: dict[str, Any]) -> str:
    if not calib["samples"]:
        return "none (bitsandbytes quantises each weight block on its own)"
    return (
        f"{calib['samples']} rows ({calib['tokens']} tokens, up to {calib['max_length']} a row) from {calib['source']}"
    )


def quoted(value: Any) -> str:
    """A string as one readable line: JSON-quoted, but Chinese and other scripts left as they are."""
    return json.dumps(str(value), ensure_ascii=False)


def render(spec: JobSpec, report: dict[str, Any], export_dir: Path) -> str:
    from ..render import template_env

    env = template_env()
    env.filters["quoted"] = quoted
    return env.get_template("model_card.md.j2").render(**context(spec, report, export_dir))


def _title(spec: JobSpec, q: dict[str, Any]) -> str:
    """What shipped, which is the method's own unless the AWQ stage shipped plain rounding (or the 8-bit rung)."""
    method = EXPORT_METHODS[spec.export.method]
    if q.get("algorithm") != "rtn" or q.get("bits") == method.bits and method.bits != 4:
        return method.title
    return f"W{q['bits']}A16 {q['bits']}-bit (round-to-nearest)"


def _implementation(spec: JobSpec, q: dict[str, Any]) -> str:
    method = EXPORT_METHODS[spec.export.method]
    if q.get("algorithm") != "rtn" or spec.export.method != "awq":
        return method.implementation
    tried = "; AWQModifier tried, see algorithm" if q.get("bits") == 4 else "; AWQ candidates failed the gate"
    return f"llm-compressor (W{q['bits']}A16 group QuantizationModifier{tried})"
