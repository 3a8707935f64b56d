"""Supervised fine-tuning of a vision-language model: what sft.train does when the base folder reads images.

Why a separate path: a VLM loads through AutoModelForImageTextToText with its AutoProcessor (not a
tokenizer), and TRL 1.16 only masks the prompt with images in the prompt/completion layout
(`assistant_only_loss=True` with images needs transformers 5.18; we pin 5.17 for llm-compressor).
In that layout only the answer tokens are in the loss, so the image placeholder tokens never are;
the batches come from engine.training.vision_collate (texts rendered once, one processor call a
batch, where TRL's collator renders twice and calls the processor twice) and the LM head is
speed.tune's plain one, as for text. The vision tower and the projector stay frozen unless
train.vision says otherwise, and LoRA adapters go on the language model only (engine.training.vision).
The text path in engine.stages.sft is not touched by any of this.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..context import Context
from ..spec import JobSpec
from .loading import is_vision_dir

__all__ = ["build_sft_trainer", "is_vision_dir", "load_for_training", "peft_config_for", "structured", "train_sft",
           "vision_kwargs"]


def structured(rows: list[Any]) -> list[dict[str, Any]]:
    """Rows in engine.data.multimodal's structured layout; plain text conversations get `images: []`."""
    from ..data.images import to_parts

    out = []
    for row in rows:
        if isinstance(row, dict) and "images" in row:
            out.append(row)
        else:
            out.append({"messages": to_parts(row), "images": []})
    return out


def vision_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """TrainingArguments for rows that are tokenised by the collator: nothing may need input_ids up front."""
    out = dict(kwargs)
    if "group_by_length" in out:
        out["group_by_length"] = False  # needs token lengths, which only exist after the collator ran
    out.pop("packing", None)
    return out


def load_for_training(spec: JobSpec, ctx: Context, base: Path, precision: str, sharded: bool) -> tuple[Any, Any]:
    """The processor (pixels bounded by dataset.max_image_pixels) and the model, vision parts frozen as asked."""
    from .loading import load_processor, load_vision_model
    from .vision import freeze_vision, trainable_parts

    processor = load_processor(base, spec)
    quantization = spec.quantization()
    model = load_vision_model(base, spec, ctx.hardware, precision, quantization, sharded=sharded)
    v = spec.train.vision
    frozen = freeze_vision(model, tower=v.freeze_vision_tower, projector=v.freeze_projector)
    parts = trainable_parts(model)
    if quantization != "none":
        ctx.log(f"language model loaded {quantization} with bitsandbytes; vision tower and projector unquantised")
    ctx.log(f"vision-language model: vision tower {'frozen' if v.freeze_vision_tower else 'trained'} "
            f"({frozen['tower']:,} parameters frozen), projector {'frozen' if v.freeze_projector else 'trained'}; "
            f"trainable before adapters: {parts}")
    return processor, model


def peft_config_for(spec: JobSpec, base: Path, model: Any) -> Any:
    """lora_config (language model only), widened only where the job asks: a tower that is not frozen takes
    the listed target names everywhere; a projector that is not frozen is trained whole beside the adapter."""
    from .lora import lora_config

    config = lora_config(spec, base)
    if config is None:
        return None
    from ..registry.targets import PROJECTOR

    t = spec.train
    if not t.vision.freeze_vision_tower and isinstance(t.lora.target_modules, list):
        config.target_modules = list(t.lora.target_modules)
    if not t.vision.freeze_projector:
        names = [n for n, _ in model.named_modules() if n and n.split(".")[-1] in PROJECTOR]
        config.modules_to_save = sorted(set(names)) or None
    return config


def train_sft(spec: JobSpec, ctx: Context, layout: Any, prep: dict[str, Any], data: Any, stage: str) -> dict[str, Any]:
    """Load, build TRL's SFTTrainer on prompt/completion rows with images, fit, save model + processor."""
    from .fit import fit

    trainer, processor, has_eval = build_sft_trainer(spec, ctx, layout, prep, data)
    return fit(trainer, ctx, layout, folder=Path(prep["checkpoints"]), final=ctx.files.stage_dir(stage),
               tokenizer=processor, template=None, has_eval=has_eval)


def build_sft_trainer(spec: JobSpec, ctx: Context, layout: Any, prep: dict[str, Any], data: Any
                      ) -> tuple[Any, Any, bool]:
    """(SFTTrainer, processor, whether there are held-out rows): everything up to fit, so tests can read its batches."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from ..data.multimodal import to_prompt_completion
    from . import quiet_libraries, speed
    from .args import precision_for, training_kwargs

    quiet_libraries()
    base = Path(prep["base"])
    t = spec.train
    precision = precision_for(spec, ctx.hardware)
    train_rows = to_prompt_completion(structured(data.train))
    val_rows = to_prompt_completion(structured(data.val)) if data.val else []
    kwargs = training_kwargs(spec, ctx, layout, output_dir=Path(prep["checkpoints"]), learning_rate=t.learning_rate,
                             epochs=t.epochs, max_steps=t.max_steps, has_eval=bool(val_rows), precision=precision)
    config = SFTConfig(**vision_kwargs(kwargs), assistant_only_loss=False, completion_only_loss=True)
    processor, model = load_for_training(spec, ctx, base, precision,
                                         sharded=layout.strategy in ("fsdp", "deepspeed-zero3"))
    ctx.log("loss on the answers only (prompt/completion rows; the image tokens and the prompt are masked)")
    trainer = SFTTrainer(
        model=model,
        args=config,
        data_collator=collator(processor, model, t.max_length),
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(val_rows) if val_rows else None,
        processing_class=processor,
        peft_config=peft_config_for(spec, base, model),
    )
    speed.tune(trainer, spec, ctx, rows=t.batch_size, outputs=speed.SFT_OUTPUTS)
    return trainer, processor, bool(val_rows)


def collator(processor: Any, model: Any, max_length: int | None) -> Any:
    """engine.training.vision_collate's collator (texts rendered once, one processor call a batch), with the pad
    token mirrored onto the model as SFTTrainer does when it builds its own collator."""
    from .vision_collate import VisionCollator

    pad = processor.tokenizer.pad_token_id
    model.config.get_text_config().pad_token_id = pad
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = pad
    return VisionCollator(processor, max_length)
