"""The model behind the builtin server: load a folder, build prompts, generate with stops that work.

"Models that never stop" mostly come from one gap: the tokenizer's eos is not the token the chat
template ends a turn with (SmolLM2, Qwen and Llama 3 instruct models all differ here). The stop set
is therefore eos from generation_config.json, the tokenizer's eos, and every end-of-turn marker the
chat template itself writes. Text and stop sequences are handled in a StoppingCriteria, which
transformers calls once per new token, so a stop sequence ends generation on the token it appears.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from . import multimodal
from .detok import IncrementalText
from .protocol import ApiError, Sampling

END_MARKERS = (
    "<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end|>", "<end_of_turn>", "<|end_of_text|>",
    "<|endoftext|>", "</s>", "<|END_OF_TURN_TOKEN|>", "<｜end▁of▁sentence｜>", "<|return|>",
)
COMPLETION_DEFAULT_MAX = 16  # OpenAI's default for /v1/completions
GREEDY_BELOW = 1e-5  # vLLM's rule: a temperature this small is greedy (dividing by 1e-320 gives inf logits)


@dataclass(frozen=True)
class GenParams:
    max_tokens: int
    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float
    min_tokens: int
    seed: int | None
    stops: list[str]


@dataclass
class Outcome:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # stop | length | cancelled


def stop_token_ids(tokenizer: Any, generation_eos: Any, template: str | None) -> set[int]:
    ids: set[int] = set()
    for value in (generation_eos, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(v for v in value if isinstance(v, int))
    vocab = tokenizer.get_vocab()
    for marker in END_MARKERS:
        if template and marker in template and marker in vocab:
            ids.add(vocab[marker])
    return ids


class _Tracker:
    """A StoppingCriteria (duck-typed): decodes each new token, sends its text, decides when to stop."""

    def __init__(self, detok: IncrementalText, eos: set[int], on_text: Callable[[str], None], cancelled: threading.Event):
        self.detok, self.eos, self.on_text, self.cancelled = detok, eos, on_text, cancelled
        self.count = 0
        self.hit_eos = False

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        self.count += 1
        token = int(input_ids[0, -1])
        if token in self.eos:
            self.hit_eos = True
        else:
            delta = self.detok.add(token)
            if delta:
                self.on_text(delta)
        stop = self.hit_eos or self.detok.stopped or self.cancelled.is_set()
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


class _LockedDecoder:
    """The tokenizer's decode behind a lock: requests are tokenized on the event loop while the worker decodes."""

    def __init__(self, tokenizer: Any, lock: threading.Lock) -> None:
        self.tokenizer, self.lock = tokenizer, lock

    def decode(self, ids: list[int], **kwargs: Any) -> str:
        with self.lock:
            return self.tokenizer.decode(ids, **kwargs)


class LoadedModel:
    def __init__(self, model: Any, tokenizer: Any, device: str, processor: Any = None) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.processor = processor  # a vision-language model's: builds text and image inputs together
        self.lock = threading.Lock()  # the Rust tokenizer must not be borrowed by two threads at once
        gen = model.generation_config
        self.defaults: dict[str, Any] = gen.to_diff_dict() if gen is not None else {}
        self.template: str | None = getattr(processor, "chat_template", None) or getattr(tokenizer, "chat_template", None)
        self.eos = stop_token_ids(tokenizer, self.defaults.get("eos_token_id"), self.template)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos, default=0)
        text_config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        limit = getattr(text_config, "max_position_embeddings", None) or getattr(tokenizer, "model_max_length", 0)
        self.context = int(limit) if limit and limit < 10_000_000 else 2048

    @classmethod
    def load(cls, model_dir: Path, trust_remote_code: bool = False) -> LoadedModel:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = "cuda" if torch.cuda.is_available() else "cpu"
        extra: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        if not (model_dir / "config.json").is_file():
            ggufs = sorted(model_dir.glob("*.gguf"))
            if ggufs:
                extra["gguf_file"] = ggufs[0].name
        dtype = "auto" if device == "cuda" else torch.float32
        try:
            if multimodal.is_vision_folder(model_dir):
                model, processor = multimodal.load(model_dir, trust_remote_code, device, dtype)
                return cls(model, processor.tokenizer, device, processor)
            tokenizer = AutoTokenizer.from_pretrained(model_dir, **extra)
            model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, **extra).to(device).eval()
        except Exception as exc:  # a broken, partial or unsupported folder is the operator's to fix
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            raise UserError(
                f"{model_dir}: transformers cannot load this model ({type(exc).__name__}: {first})",
                "check the folder is complete (config.json, tokenizer files, *.safetensors), "
                "or allow its own code (model.trust_remote_code in a job, --trust-remote-code for serve)",
            ) from None
        return cls(model, tokenizer, device)

    # prompts -------------------------------------------------------------------------------
    def chat_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        if not self.template:
            raise ApiError(400, "This model has no chat template; use /v1/completions with a plain prompt.", param="messages")
        try:
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        except Exception as exc:  # the template's own refusal, e.g. "system role not supported"
            raise ApiError(400, f"The model's chat template rejected these messages: {exc}", param="messages") from None
        with self.lock:
            return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def vision_prompt(self, messages: list[dict[str, Any]], images: list[Any]) -> tuple[list[int], dict[str, Any]]:
        """A VLM's prompt ids and image inputs (messages already hold {"type": "image"} where images.py put them)."""
        with self.lock:
            return multimodal.chat_inputs(self.processor, self.model, messages, images)

    def text_prompt(self, text: str) -> list[int]:
        with self.lock:
            return list(self.tokenizer(text)["input_ids"])

    # parameters ----------------------------------------------------------------------------
    def resolve(self, req: Sampling, prompt_len: int, chat: bool) -> GenParams:
        """Request values, else the model's generation_config.json, else OpenAI's defaults (vLLM's rule)."""
        field = "messages" if chat else "prompt"
        if prompt_len == 0:  # a model without a BOS token gets no input at all: generate() cannot start
            raise ApiError(400, f"The {field} is empty; give at least one character of text.", param=field,
                           code="empty_prompt")
        room = self.context - prompt_len
        if room < 1:
            raise ApiError(
                400,
                f"This model's maximum context length is {self.context} tokens; the {field} alone are {prompt_len}.",
                param=field, code="context_length_exceeded",
            )
        asked = req.token_limit()  # type: ignore[attr-defined]
        if asked is None:
            default = self.defaults.get("max_new_tokens") if chat else COMPLETION_DEFAULT_MAX
            max_tokens = min(room, int(default or room))
        elif asked > room:
            raise ApiError(
                400,
                f"This model's maximum context length is {self.context} tokens. However, you requested "
                f"{prompt_len + asked} tokens ({prompt_len} in the {field}, {asked} in the completion). "
                f"Please reduce the length of the {field} or completion.",
                param="max_tokens", code="context_length_exceeded",
            )
        else:
            max_tokens = asked

        def pick(name: str, fallback: float) -> float:
            value = getattr(req, name)
            return float(value if value is not None else self.defaults.get(name, fallback))

        top_k = req.top_k if req.top_k is not None else int(self.defaults.get("top_k") or 0)
        min_tokens = max_tokens if req.ignore_eos else min(req.min_tokens, max_tokens)
        return GenParams(
            max_tokens=max_tokens, temperature=pick("temperature", 1.0), top_p=pick("top_p", 1.0),
            top_k=max(top_k, 0), repetition_penalty=pick("repetition_penalty", 1.0),
            min_tokens=min_tokens, seed=req.seed, stops=req.stops(),
        )

    # generation ----------------------------------------------------------------------------
    def generate(
        self, prompt: list[int], params: GenParams, on_text: Callable[[str], None], cancelled: threading.Event,
        extra: dict[str, Any] | None = None,
    ) -> Outcome:
        """Run one request to the end; text goes to on_text as it appears. Call from one thread at a time.
        `extra`: a VLM's image inputs (pixel_values, ...) from vision_prompt."""
        import torch

        detok = IncrementalText(_LockedDecoder(self.tokenizer, self.lock), params.stops)
        tracker = _Tracker(detok, self.eos, on_text, cancelled)
        sample = params.temperature >= GREEDY_BELOW
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_tokens,
            "min_new_tokens": params.min_tokens or None,
            "do_sample": sample,
            "eos_token_id": sorted(self.eos) or None,
            "pad_token_id": self.pad_id,
            "repetition_penalty": params.repetition_penalty,
            "stopping_criteria": [tracker],
        }
        if sample:
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        ids = torch.tensor([prompt], device=self.device)
        with torch.inference_mode():
            self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **(extra or {}), **kwargs)
        tail = detok.finish()
        if tail:
            on_text(tail)
        if cancelled.is_set():
            reason = "cancelled"
        elif tracker.hit_eos or detok.stopped:
            reason = "stop"
        else:
            reason = "length"
        return Outcome(detok.text, len(prompt), tracker.count, reason)
