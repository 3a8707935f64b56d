"""Tiny random vision-language models (Qwen2-VL, InternVL, LLaVA) with real processors, built offline in seconds.

The image path — processor, image placeholder tokens, vision tower, projector — is what breaks, so
tests, `demo --vision` and the benchmarks need a VLM that goes through exactly the classes a real
checkpoint loads with (AutoProcessor + AutoModelForImageTextToText), only small and random. Each
family gets a byte-level BPE tokenizer trained here with its image special tokens, a ChatML chat
template that takes string content or lists of text/image parts (with `{% generation %}` around the
assistant's text, for assistant-only loss), and a config whose `image_token_id` is the processor's.
`build_tiny_vlm` checks that after saving, so a drift in transformers shows at build time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .tiny import _CORPUS, SPECIAL
from .util.processors import ensure_processor_support

FAMILIES = ("qwen2-vl", "internvl", "llava")


@dataclass(frozen=True)
class Family:
    """What differs between the families: the image tokens, and what the chat template writes for an image."""

    specials: tuple[str, ...]  # added to the trained vocabulary, in this order
    image_text: str  # the template's text for one image part (the processor expands it)
    image_token: str  # the token the processor repeats once per image feature


FAMILY = {
    "qwen2-vl": Family(("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"),
                       "<|vision_start|><|image_pad|><|vision_end|>", "<|image_pad|>"),
    "internvl": Family(("<img>", "</img>", "<IMG_CONTEXT>", "<video>"), "<IMG_CONTEXT>\n", "<IMG_CONTEXT>"),
    "llava": Family(("<image>",), "<image>\n", "<image>"),
}


def chat_template(image_text: str) -> str:
    """ChatML; content is a string or a list of {"type": "text"|"image", ...} parts; assistant text in generation."""
    image = image_text.replace("\n", "\\n")
    return (
        "{%- for message in messages %}"
        "{{- '<|im_start|>' + message['role'] + '\\n' }}"
        "{%- if message['content'] is string %}"
        "{%- set parts = [{'type': 'text', 'text': message['content']}] %}"
        "{%- else %}{%- set parts = message['content'] %}{%- endif %}"
        "{%- if message['role'] == 'assistant' %}"
        "{% generation %}"
        "{%- for part in parts %}{%- if part['type'] == 'text' %}{{- part['text'] }}{%- endif %}{%- endfor %}"
        "{{- '<|im_end|>' }}{% endgeneration %}"
        "{%- else %}"
        "{%- for part in parts %}"
        f"{{%- if part['type'] in ('image', 'image_url') %}}{{{{- '{image}' }}}}"
        "{%- elif part['type'] == 'text' %}{{- part['text'] }}{%- endif %}"
        "{%- endfor %}"
        "{{- '<|im_end|>' }}"
        "{%- endif %}"
        "{{- '\\n' }}"
        "{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
    )


def _tokenizer(family: str, vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [*SPECIAL, *FAMILY[family].specials]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_CORPUS * 20, trainer=trainer)
    extra: dict[str, str] | list[str]
    if family == "internvl":  # InternVLProcessor reads these names off the tokenizer
        extra = {"start_image_token": "<img>", "end_image_token": "</img>",
                 "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"}
    elif family == "llava":
        extra = {"image_token": "<image>"}
    else:
        extra = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                 "vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>"}
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token=None, extra_special_tokens=extra)


def _text_config(vocab: int, hidden: int, layers: int, tok: Any, **extra: Any) -> dict[str, Any]:
    return {
        "vocab_size": vocab, "hidden_size": hidden, "intermediate_size": hidden * 2, "num_hidden_layers": layers,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 2048,
        "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id, "bos_token_id": None,
        "tie_word_embeddings": False, **extra,
    }


def _qwen2_vl(tok: Any, vocab: int, hidden: int, layers: int) -> tuple[Any, Any, Any]:
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    from transformers.video_processing_utils import BaseVideoProcessor

    ids = {t: tok.convert_tokens_to_ids(t) for t in FAMILY["qwen2-vl"].specials}
    head = hidden // 4
    text = _text_config(vocab, hidden, layers, tok, model_type="qwen2_vl",
                        rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                         "mrope_section": [head // 8, head // 8 * 1.5, head // 8 * 1.5]})
    text["rope_parameters"]["mrope_section"] = [int(x) for x in text["rope_parameters"]["mrope_section"]]
    config = Qwen2VLConfig(
        text_config=text,
        vision_config={"depth": 2, "embed_dim": 32, "hidden_size": hidden, "num_heads": 2, "mlp_ratio": 2,
                       "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    images = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=112 * 112)
    videos = BaseVideoProcessor(patch_size=14, temporal_patch_size=2, merge_size=2)
    processor = Qwen2VLProcessor(image_processor=images, tokenizer=tok, video_processor=videos,
                                 chat_template=chat_template(FAMILY["qwen2-vl"].image_text))
    return config, Qwen2VLForConditionalGeneration, processor


def _internvl(tok: Any, vocab: int, hidden: int, layers: int) -> tuple[Any, Any, Any]:
    from transformers import InternVLConfig, InternVLForConditionalGeneration, InternVLProcessor
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil
    from transformers.video_processing_utils import BaseVideoProcessor

    size = 56  # 4x4 patches of 14, 2x2 after the 0.5 pixel shuffle: 4 image tokens per image
    config = InternVLConfig(
        text_config=_text_config(vocab, hidden, layers, tok, model_type="qwen2"),
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": [size, size], "patch_size": [14, 14]},
        image_token_id=tok.convert_tokens_to_ids("<IMG_CONTEXT>"), image_seq_length=4, downsample_ratio=0.5,
        tie_word_embeddings=False,
    )
    images = GotOcr2ImageProcessorPil(size={"height": size, "width": size}, crop_to_patches=False)
    videos = BaseVideoProcessor(size={"height": size, "width": size})
    processor = InternVLProcessor(image_processor=images, tokenizer=tok, video_processor=videos, image_seq_length=4,
                                  chat_template=chat_template(FAMILY["internvl"].image_text))
    return config, InternVLForConditionalGeneration, processor


def _llava(tok: Any, vocab: int, hidden: int, layers: int) -> tuple[Any, Any, Any]:
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    size, patch = 28, 14  # 2x2 patches (+ CLS, dropped): 4 image tokens per image
    config = LlavaConfig(
        text_config=_text_config(vocab, hidden, layers, tok, model_type="llama"),
        vision_config={"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                       "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": size, "patch_size": patch,
                       "projection_dim": 32},
        image_token_index=tok.convert_tokens_to_ids("<image>"), vision_feature_layer=-1,
        vision_feature_select_strategy="default", image_seq_length=(size // patch) ** 2, tie_word_embeddings=False,
    )
    images = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    processor = LlavaProcessor(image_processor=images, tokenizer=tok, patch_size=patch,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=chat_template(FAMILY["llava"].image_text))
    return config, LlavaForConditionalGeneration, processor


BUILDERS = {"qwen2-vl": _qwen2_vl, "internvl": _internvl, "llava": _llava}


def build_tiny_vlm(path: Path, family: str = "qwen2-vl", seed: int = 0, vocab_size: int = 512, hidden: int = 64,
                   layers: int = 2) -> Path:
    """Write a tiny random VLM (config, safetensors, processor, tokenizer, chat template) to `path`."""
    if family not in BUILDERS:
        raise ValueError(f"unknown tiny vision family {family!r}; one of: {', '.join(FAMILIES)}")
    ensure_processor_support()
    import torch
    from transformers import GenerationConfig

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = _tokenizer(family, vocab_size)
    vocab = ((len(tok) + 31) // 32) * 32
    config, model_class, processor = BUILDERS[family](tok, vocab, hidden, layers)
    torch.manual_seed(seed)
    model = model_class(config)
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                                               max_new_tokens=16)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    check_ids(path)
    return path


def check_ids(path: Path) -> dict[str, int]:
    """Reload the folder's processor and check its image token id against config.json; ValueError on drift."""
    from transformers import AutoProcessor

    ensure_processor_support()
    processor = AutoProcessor.from_pretrained(str(path))
    config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    token = processor.image_token
    found = processor.tokenizer.convert_tokens_to_ids(token)
    configured = config.get("image_token_id", config.get("image_token_index"))  # LLaVA saves the latter
    ids = {"config": int(configured), "processor": int(processor.image_token_id),
           "tokenizer": int(found)}
    if len(set(ids.values())) != 1:
        raise ValueError(f"{path}: image token {token!r} ids disagree after reload: {ids}")
    return ids
