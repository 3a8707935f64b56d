"""W4A16 export of a vision-language model: the language model's linear layers only, calibrated on image rows.

What differs from text (measured, ../shared/STACK.md "Vision-language models on this CPU"):
- the vision tower, the projector and lm_head are ignored with `re:` patterns;
- calibration rows carry images, so each row is run through the processor here and handed to
  llm-compressor already encoded, one row a batch (data_collator); the sequential pipeline is cut at
  the text decoder layer class;
- trap 1: the saved `quantization_config.ignore` lists on-disk names (`visual.blocks.0…`) while
  transformers matches in-memory names (`model.visual…`), so on reload the tower would be quantised —
  the `re:` patterns are appended to the saved list;
- trap 2: pinning off without an accelerator (engine.export.awq, as for text);
- trap 3: AWQ's default mappings also match the vision tower's q_proj (LLaVA, InternVL), so they are
  scoped to the language model's layers.
The plain-rounding baseline that the text path compares against is not run here (one candidate).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..registry.targets import LANGUAGE_MODEL, PROJECTOR, VISION_TOWER, vision_part
from . import awq, calibration, groups
from .job import ExportRun, free_memory
from .ladder import Variant

IGNORE = ("lm_head", *(f"re:.*{name}.*" for name in (*VISION_TOWER, *PROJECTOR)))
SCOPE = r"re:.*(?:" + "|".join(LANGUAGE_MODEL) + r")\.layers\.\d+\."


def language_widths(model: Any) -> dict[str, int]:
    """Input widths of the linear layers that are quantised: the language model's, lm_head excluded."""
    widths = groups.quantised_widths(model, ("lm_head",))
    return {name: w for name, w in widths.items() if vision_part(name) is None}


def decoder_layer_class(model: Any) -> str:
    """The class name of the language model's transformer block (llm-compressor's sequential target)."""
    for name, module in model.named_modules():
        parts = name.split(".")
        if parts[-1] == "layers" and any(p in LANGUAGE_MODEL for p in parts) and len(module):
            return type(module[0]).__name__
    raise ValueError("no language-model layers found in this vision-language model")


def scoped_mappings() -> list[Any]:
    """AWQ's default smoothing mappings, matched inside the language model's layers only (trap 3)."""
    from llmcompressor.modifiers.transform.awq.mappings import AWQMapping, default_mappings

    def scope(pattern: str) -> str:
        return SCOPE + ".*" + pattern[len("re:.*"):] if pattern.startswith("re:.*") else pattern

    return [AWQMapping(scope(m.smooth_layer), [scope(b) for b in m.balance_layers]) for m in default_mappings]


def open_images(paths: list[str]) -> list[Any]:
    """The row's image files as RGB pictures (already checked by engine.data when the rows were loaded)."""
    from PIL import Image

    out = []
    for path in paths:
        with Image.open(path) as image:
            out.append(image.convert("RGB"))
    return out


def encode_rows(rows: list[Any], processor: Any) -> list[dict[str, Any]]:
    """Each row as the processor encodes it for the model (input ids, pixel values, grid sizes …), as lists."""
    out = []
    for row in rows:
        messages = row["messages"] if isinstance(row, dict) else row
        images = open_images(row.get("images", []) if isinstance(row, dict) else [])
        text = processor.apply_chat_template(messages, tokenize=False)
        enc = processor(text=[text], images=[images] if images else None, return_tensors="pt")
        out.append({k: v.tolist() for k, v in enc.items()})
    return out


def collator(dtype: Any) -> Any:
    """One encoded row → the model's keyword arguments (floating inputs in the model's dtype)."""
    import torch

    def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
        (row,) = batch
        out = {}
        for key, value in row.items():
            tensor = torch.tensor(value)
            out[key] = tensor.to(dtype) if tensor.is_floating_point() else tensor
        return out

    return collate


def fix_saved_ignore(folder: Path) -> list[str]:
    """Append the `re:` patterns to the saved quantization_config.ignore (trap 1); the list as written."""
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    quant = config.get("quantization_config") or {}
    ignore = list(quant.get("ignore") or [])
    ignore += [p for p in IGNORE if p not in ignore]
    quant["ignore"] = ignore
    config["quantization_config"] = quant
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return ignore


def quantize(model: Any, processor: Any, encoded: list[dict[str, Any]], settings: awq.AwqSettings) -> Any:
    """AWQ + W4A16 groups on the language model, calibrated on `encoded` image rows."""
    from datasets import Dataset
    from llmcompressor import oneshot

    steps = awq.recipe(settings, ignore=IGNORE)
    steps[0].mappings = scoped_mappings()
    with awq.pinning_off_without_accelerator():
        oneshot(model=model, processor=processor, dataset=Dataset.from_list(encoded), recipe=steps,
                data_collator=collator(model.dtype), num_calibration_samples=len(encoded),
                max_seq_length=settings.max_length, shuffle_calibration_samples=False, pipeline="sequential",
                sequential_targets=[decoder_layer_class(model)])
    return model


def save(model: Any, processor: Any, folder: Path) -> None:
    model.save_pretrained(str(folder), save_compressed=True)
    processor.save_pretrained(str(folder))
    fix_saved_ignore(folder)


def export(run: ExportRun, variant: Variant | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """engine.export.awq_flow.export for a vision-language source: quantise into run.tmp and check it."""
    from ..training.loading import load_processor, load_vision_model

    spec, ctx, e = run.spec, run.ctx, run.spec.export
    variant = variant or Variant("AWQ")
    model = load_vision_model(run.source, spec, ctx.hardware, ctx.hardware.precision(spec.train.precision))
    processor = load_processor(run.source, trust_remote_code=spec.model.trust_remote_code)
    group, reason = groups.choose_group_size(variant.group_size or e.group_size, language_widths(model))
    ctx.emit("log", message=reason, level="info", group_size=group)
    bits = variant.bits
    settings = awq.AwqSettings(bits=bits, group_size=group, symmetric=e.symmetric if bits == awq.BITS else True,
                               max_length=e.calibration_max_length)
    calib = run.calib
    if variant.samples and variant.samples != len(calib.calibration):
        calib = calibration.select(spec, variant.samples)
    encoded: list[dict[str, Any]] = []
    if bits != awq.BITS:
        ctx.log(f"W{bits}A16 by plain rounding, group {group}, language model only")
        awq.quantize_rtn(model, settings, ignore=IGNORE)
        algorithm = "rtn"
    else:
        encoded = encode_rows(calib.calibration, processor)
        tokens = sum(len(r["input_ids"][0]) for r in encoded)
        ctx.log(f"calibrating on {len(encoded)} image rows ({tokens} tokens) from {calib.source}; quantising the "
                f"language model only (vision tower, projector and lm_head kept), layer by layer "
                f"({decoder_layer_class(model)})")
        quantize(model, processor, encoded, settings)
        algorithm = "awq"
    ctx.log("saving the compressed checkpoint (with the processor)")
    save(model, processor, run.tmp)
    quantized = time.time()
    del model
    free_memory()
    run.watch.now("verifying against the source model")
    figures = run.checker.check(run.tmp)
    quant = {"algorithm": algorithm, "bits": bits, "group_size": group, "group_size_reason": reason,
             "symmetric": settings.symmetric, "format": awq.FORMAT, "not_quantized": list(IGNORE),
             "samples": len(encoded), "tokens": sum(len(r["input_ids"][0]) for r in encoded),
             "quantized_at": quantized}
    return quant, figures
