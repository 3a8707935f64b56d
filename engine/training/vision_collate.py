"""Batches for vision-language SFT: one processor call per batch on texts rendered once, labels on the answer only.

Why not TRL 1.16's DataCollatorForVisionLanguageModeling: for every batch it renders each row's chat
template twice, calls the processor once on the prompts with the images and again on the answers,
then flushes the batch left — on the tiny VLM of bench/vlm.py 16–19 ms a batch against 11 ms for the
one processor call a hand-written loop makes, a third of the step. Here each row's texts (prompt with
the generation prompt, answer) and its answer's token ids are worked out once and kept; a batch is then
one processor call over prompt + answer with the images, right-padded — the processor's own output,
pixel layout included, for every family — and the labels. Decoded images are kept too (ImageCache),
so later epochs do not read the files again. (Encoding rows one by one and caching the pixel values
was measured too: a processor call carries about 3 ms of fixed cost, so per-row calls made the first
epoch twice as slow as TRL's collator; the image processor runs each epoch, as in a hand loop.)

Labels: the answer's tokens only — the prompt, the padding and every image/video placeholder token
are -100. The prompt's length is the row's length less its answer's tokens, checked against the
tokens themselves (where a tokenizer merged across the boundary, the prompt is encoded alone once).
Rows longer than max_length lose the end of their answer, never an image placeholder (a cut image
fails in the model: its features no longer match its tokens).
"""

from __future__ import annotations

import json
from typing import Any

IGNORE = -100
MAX_PREPARED = 200_000  # rows whose texts are kept (about a kilobyte each)
IMAGE_CACHE_BYTES = 256 << 20  # decoded images kept for later epochs, per process

__all__ = ["VisionCollator", "placeholder_ids", "texts"]


class VisionCollator:
    """A data_collator for SFTTrainer on prompt/completion rows with images (engine.data.multimodal's layout)."""

    def __init__(self, processor: Any, max_length: int | None) -> None:
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.max_length = max_length
        self.placeholders = placeholder_ids(processor)
        self.images = ImageCache()
        self._prepared: dict[str, dict[str, Any]] = {}

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        prepared = [self.prepare(row) for row in rows]
        new = [p for p in prepared if p["answer_ids"] is None]
        if new:  # one tokenizer call for the answers of rows not seen before
            for item, ids in zip(new, self.tokenizer([p["answer"] for p in new], add_special_tokens=False)["input_ids"],
                                 strict=True):
                item["answer_ids"] = list(ids)
        images = [self.images.open(p["images"]) for p in prepared]
        batch = dict(self.processor(text=[p["prompt"] + p["answer"] for p in prepared],
                                    images=images if any(images) else None, return_tensors="pt", padding=True,
                                    padding_side="right", add_special_tokens=False))
        starts = [self.answer_start(p, ids, mask, pictures)
                  for p, ids, mask, pictures in zip(prepared, batch["input_ids"], batch["attention_mask"], images,
                                                    strict=True)]
        return self.finish(batch, starts)

    def prepare(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row's prompt and answer texts and image paths (its answer's token ids filled in by the caller), once."""
        key = json.dumps([row.get("prompt"), row.get("completion"), row.get("images")], sort_keys=True, default=str)
        hit = self._prepared.get(key)
        if hit is not None:
            return hit
        prompt, answer = texts(self.processor, row)
        item = {"prompt": prompt, "answer": answer, "images": list(row.get("images") or []), "answer_ids": None,
                "start": None}
        if len(self._prepared) < MAX_PREPARED:
            self._prepared[key] = item
        return item

    def answer_start(self, item: dict[str, Any], ids: Any, mask: Any, images: list[Any]) -> int:
        """Where the answer begins in this row: its length less the answer's tokens, if those are the tokens there."""
        if item["start"] is not None:
            return item["start"]
        length, answer = int(mask.sum()), item["answer_ids"]
        if ids[length - len(answer):length].tolist() == answer:
            return length - len(answer)
        alone = self.processor(text=[item["prompt"]], images=[images] if images else None, return_tensors="pt",
                               add_special_tokens=False)
        item["start"] = len(alone["input_ids"][0])
        return item["start"]

    def finish(self, batch: dict[str, Any], starts: list[int]) -> dict[str, Any]:
        """Labels (answer tokens only) and truncation to max_length, never through an image placeholder."""
        import torch

        ids = batch["input_ids"]
        labels = ids.masked_fill(batch["attention_mask"] == 0, IGNORE)
        for row, start in enumerate(starts):
            labels[row, :start] = IGNORE
        if self.placeholders:
            labels[torch.isin(ids, torch.tensor(sorted(self.placeholders), dtype=ids.dtype))] = IGNORE
        batch["labels"] = labels
        if self.max_length is not None and ids.shape[1] > self.max_length:
            keep = max(self.max_length, last_placeholder(ids, self.placeholders) + 1)
            for name, value in list(batch.items()):
                if hasattr(value, "dim") and value.dim() >= 2 and value.shape[:2] == ids.shape[:2]:
                    batch[name] = value[:, :keep]
        return batch


def placeholder_ids(processor: Any) -> set[int]:
    """Token ids that stand for pixels (image and video placeholders, and their begin/end markers where named)."""
    tok = getattr(processor, "tokenizer", processor)
    out = set()
    for attr in ("image_token_id", "video_token_id", "image_token_index"):
        value = getattr(processor, attr, None)
        if isinstance(value, int):
            out.add(value)
    for attr in ("image_token", "video_token", "boi_token", "eoi_token", "start_image_token", "end_image_token"):
        token = getattr(processor, attr, None)
        if isinstance(token, str) and token:
            token_id = tok.convert_tokens_to_ids(token)
            if isinstance(token_id, int) and token_id != tok.unk_token_id:
                out.add(token_id)
    return out


def last_placeholder(ids: Any, placeholders: set[int]) -> int:
    """The last column holding a placeholder in any row (-1 if none)."""
    import torch

    if not placeholders:
        return -1
    hits = torch.isin(ids, torch.tensor(sorted(placeholders), dtype=ids.dtype)).any(0).nonzero()
    return int(hits[-1]) if len(hits) else -1


def texts(processor: Any, row: dict[str, Any]) -> tuple[str, str]:
    """(prompt text ending in the generation prompt, answer text): TRL's own rendering of a prompt/completion row.

    Where the whole conversation's text starts with the prompt's (every template this project ships), the
    answer is the rest — what TRL's apply_chat_template finds too, without its character-by-character
    common-prefix walk; otherwise TRL's function decides.
    """
    from trl.data_utils import apply_chat_template, prepare_multimodal_messages

    images = list(row.get("images") or [])
    prompt = prepare_multimodal_messages(row["prompt"], images=images)
    completion = prepare_multimodal_messages(row["completion"])
    if prompt and prompt[-1]["role"] == "user":
        head = processor.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        whole = processor.apply_chat_template(prompt + completion, tokenize=False)
        if whole.startswith(head):
            return head, whole[len(head):]
    rendered = apply_chat_template({"prompt": prompt, "completion": completion}, processor)
    return rendered["prompt"], rendered["completion"]


class ImageCache:
    """Decoded RGB images by path, up to a byte budget: later epochs skip reading and decoding the files."""

    def __init__(self, budget: int = IMAGE_CACHE_BYTES) -> None:
        self.budget, self.used = budget, 0
        self._images: dict[str, Any] = {}

    def open(self, paths: list[Any]) -> list[Any]:
        from PIL import Image

        out = []
        for path in paths:
            if isinstance(path, Image.Image):
                out.append(path.convert("RGB"))
                continue
            image = self._images.get(str(path))
            if image is None:
                with Image.open(path) as raw:
                    image = raw.convert("RGB")
                size = image.width * image.height * 3
                if self.used + size <= self.budget:
                    self._images[str(path)] = image
                    self.used += size
            out.append(image)
        return out
