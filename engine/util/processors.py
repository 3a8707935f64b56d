"""The one place that makes vision-language processors loadable without torchvision.

PyPI has no CPU build of torchvision (its 0.28 wheel is a CUDA build that fails at import beside
the CPU torch), so it is not installed. transformers then resolves the name `BaseVideoProcessor`
to a placeholder that raises, and the Qwen-VL and InternVL processors, which carry a video
processor, can neither be built nor loaded. The real class needs no torchvision for images, so we
point the name at it in the module object `transformers.processing_utils` looks names up in
(`transformers_module`; setting it on our own `import transformers` handle does nothing). Images
then work; videos do not. See STACK.md, "Vision-language models on this CPU".

Call `ensure_processor_support()` before any AutoProcessor / processor class is loaded: the tiny
model builder, training, export and the server all do, through engine.training.loading.load_processor
or directly. It is idempotent and does nothing where torchvision is installed.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Any


@functools.lru_cache(maxsize=1)
def ensure_processor_support() -> bool:
    """Patch transformers' lookup of BaseVideoProcessor when torchvision is missing; True if patched."""
    if importlib.util.find_spec("torchvision") is not None:
        return False
    from transformers import processing_utils
    from transformers.video_processing_utils import BaseVideoProcessor

    module = processing_utils.transformers_module
    current = _lookup(module, "BaseVideoProcessor")
    if current is BaseVideoProcessor:
        return False
    module.BaseVideoProcessor = BaseVideoProcessor  # the lazy module serves a set attribute first
    return True


def image_processor_class() -> Any:
    """AutoImageProcessor that works without torchvision (the top-level name is a placeholder then)."""
    ensure_processor_support()
    from transformers.models.auto.image_processing_auto import AutoImageProcessor

    return AutoImageProcessor


def _lookup(module: Any, name: str) -> Any:
    try:
        return getattr(module, name)
    except (ImportError, AttributeError):
        return None
