"""Shared pieces of the training stages (sft, dpo) and of merge.

loading (model/tokenizer, bitsandbytes bases via quant), template (assistant-only loss), args (the
TrainingArguments every trainer shares), checkpoints (complete-only resume), fit (train, evaluate,
save in one rename), launch / execute (one process or torchrun ranks; each rank runs engine.worker), merging, callback
(Trainer logs → events), targets (LoRA modules per family).
"""

import logging
import os

# bitsandbytes tries to fetch a CPU kernel from a hub on import and warns when it cannot; the
# built-in CPU path works, so the warning only confuses operators (../shared/STACK.md).
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def quiet_libraries() -> None:
    """Silence per-row progress bars and console log dicts; our events carry the same figures."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
