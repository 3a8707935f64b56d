"""Preference training (DPO) of a vision-language model: what dpo.train does when the base folder reads images.

TRL 1.16's DPOTrainer takes the AutoProcessor as processing_class and rows with
prompt / chosen / rejected / images (engine.data.multimodal's structured layout, as load_preference
gives them). It refuses precompute_ref_log_probs for vision data, so the reference log-probs are
computed on the fly (LoRA: the same model with the adapter disabled). The vision tower and projector
are frozen as for SFT (train.vision), and adapters go on the language model only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..context import Context
from ..errors import UserError
from ..spec import JobSpec
from ..spec.methods import PREFERENCE_ALGORITHMS
from . import speed


def _structured(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Preference rows with images as they are; text rows as content lists with `images: []` (one schema)."""
    from ..data.images import to_parts

    fields = ("prompt", "chosen", "rejected")
    out = []
    for row in rows:
        if "images" in row:
            out.append(row)
            continue
        converted = {k: to_parts(v) if k in fields and isinstance(v, list) else v for k, v in row.items()}
        out.append({**converted, "images": []})
    return out


def train_dpo(spec: JobSpec, ctx: Context, layout: Any, prep: dict[str, Any], data: Any, stage: str) -> dict[str, Any]:
    """Load, build DPOTrainer with the processor on rows with images, fit, save adapter/model + processor."""
    import importlib

    from datasets import Dataset

    from . import quiet_libraries
    from .args import precision_for, training_kwargs
    from .fit import fit
    from .vision_sft import load_for_training, peft_config_for, vision_kwargs

    d = spec.dpo
    algorithm = PREFERENCE_ALGORITHMS[d.algorithm]
    if not algorithm.paired:
        raise UserError(f"dpo.algorithm: {d.algorithm} is not available for vision-language models yet; use dpo "
                        "(chosen / rejected pairs with images)")
    quiet_libraries()
    base = Path(prep["base"])
    precision = precision_for(spec, ctx.hardware)
    kwargs = training_kwargs(spec, ctx, layout, output_dir=Path(prep["checkpoints"]), learning_rate=d.learning_rate,
                             epochs=d.epochs, max_steps=d.max_steps, has_eval=bool(data.val), precision=precision)
    trl_module = importlib.import_module(algorithm.trl_module)
    extra = {"loss_type": [d.loss]} if algorithm.takes_loss else {}
    config = getattr(trl_module, algorithm.config)(**vision_kwargs(kwargs), beta=d.beta,
                                                   precompute_ref_log_probs=False, **extra)
    processor, model = load_for_training(spec, ctx, base, precision,
                                         sharded=layout.strategy in ("fsdp", "deepspeed-zero3"))
    trainer = getattr(trl_module, algorithm.trainer)(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(_structured(data.train)),
        eval_dataset=Dataset.from_list(_structured(data.val)) if data.val else None,
        processing_class=processor,
        peft_config=peft_config_for(spec, base, model),
    )
    speed.tune(trainer, spec, ctx, rows=2 * spec.train.batch_size, outputs=speed.PREFERENCE_OUTPUTS)
    return fit(trainer, ctx, layout, folder=Path(prep["checkpoints"]), final=ctx.files.stage_dir(stage),
               tokenizer=processor, template=None, has_eval=bool(data.val))
