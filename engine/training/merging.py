"""Fold a LoRA / QLoRA adapter into full-precision base weights (never into 4-bit ones).

Used by the merge stage and by dpo, which merges the SFT adapter first so that DPO trains a
fresh adapter against the SFT model (continuing the SFT adapter leaves DPO's loss stuck).
"""

from __future__ import annotations

from pathlib import Path

from ..hardware import Hardware
from ..spec import JobSpec
from ..util.fs import temporary_dir


def merge_adapter(base_dir: Path, adapter_dir: Path, out_dir: Path, spec: JobSpec, hw: Hardware, precision: str) -> None:
    """Load `base_dir` unquantised in `precision`, apply the adapter, save safetensors to `out_dir` in one rename."""
    from peft import PeftModel

    from .loading import is_vision_dir, load_model, load_tokenizer

    if is_vision_dir(base_dir):
        _merge_vision(base_dir, adapter_dir, out_dir, spec, hw, precision)
        return
    base = load_model(base_dir, spec, hw, precision, quantization="none")
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    tokenizer = load_tokenizer(adapter_dir if (adapter_dir / "tokenizer_config.json").exists() else base_dir, spec)
    with temporary_dir(out_dir) as tmp:
        merged.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))



def _merge_vision(base_dir: Path, adapter_dir: Path, out_dir: Path, spec: JobSpec, hw: Hardware, precision: str) -> None:
    """A vision-language model: merged weights plus the base's own processor (image processor config, tokenizer,
    chat template, unbounded pixels), so the folder reloads with AutoModelForImageTextToText + AutoProcessor."""
    from peft import PeftModel

    from .loading import load_processor, load_vision_model

    base = load_vision_model(base_dir, spec, hw, precision, quantization="none")
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    processor = load_processor(base_dir, trust_remote_code=spec.model.trust_remote_code)
    with temporary_dir(out_dir) as tmp:
        merged.save_pretrained(str(tmp))
        processor.save_pretrained(str(tmp))
