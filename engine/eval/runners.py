"""Which runner scores a model folder: the one place that tells a vision-language folder from a text one.

Both runners answer the same four calls, so the scorers, the eval stage and the export gate never ask
what kind of model they hold: a text model gets engine.eval.runner.Runner (AutoModelForCausalLM +
tokenizer), a folder whose config.json is a vision-language model gets
engine.eval.vision_runner.VisionRunner (AutoModelForImageTextToText + AutoProcessor), whose prompts
may carry pictures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from .items import Messages

Progress = Callable[[int, int], None]


class EvalRunner(Protocol):
    def generate(self, prompts: Sequence[Messages], max_new_tokens: int,
                 progress: Progress | None = None) -> list[str]: ...

    def choice_logprobs(self, prompts: Sequence[Messages], letters: Sequence[Sequence[str]],
                        progress: Progress | None = None) -> list[dict[str, float]]: ...

    def answer_logprobs(self, prompts: Sequence[Messages], answers: Sequence[str],
                        progress: Progress | None = None) -> list[tuple[float, int]]: ...

    def close(self) -> None: ...


def open_runner(model_dir: Path, *, precision: str = "fp32", device: str | None = None,
                trust_remote_code: bool = False, batch_size: int = 8, max_pixels: int | None = None) -> EvalRunner:
    """The model folder loaded for scoring; max_pixels bounds the pictures a vision-language model is shown."""
    from ..training.loading import is_vision_dir

    if is_vision_dir(Path(model_dir)):
        from .vision_runner import VisionRunner

        return VisionRunner(model_dir, precision=precision, device=device, trust_remote_code=trust_remote_code,
                            batch_size=batch_size, max_pixels=max_pixels)
    from .runner import Runner

    return Runner(model_dir, precision=precision, device=device, trust_remote_code=trust_remote_code,
                  batch_size=batch_size)
