"""Prompts that carry pictures: held-out image rows as eval items, and what the runners and records need of them.

A held-out image row (engine.data.multimodal's structured layout: content parts with bare
`{"type": "image"}` placeholders, absolute paths in `images`) becomes an Item whose prompt carries each
path inside its own part, `{"type": "image", "image": path}` (OpenAI / transformers content-part form).
The prompt then says everything about itself, so every scorer, the saved generations and a test that
takes the pictures away (`without_images`) handle one value. The vision runner pulls the paths out
(`split`) and hands the chat template bare placeholders only, as the server does: a template's own
image loader would read any path or fetch any URL it is given.
"""

from __future__ import annotations

from typing import Any

from .items import Item, Messages

IMAGE_TAG = "<image>"  # how a picture shows in a record's prompt text (the ms-swift / LLaMA-Factory tag)


def _is_image(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") in ("image", "image_url")


def content_text(content: Any) -> str:
    """A turn's text, with IMAGE_TAG where a picture was (for answers, references and the saved records)."""
    if isinstance(content, str):
        return content
    return "".join(IMAGE_TAG if _is_image(p) else str(p.get("text", "")) for p in content or [])


def row_item(row: dict[str, Any], number: int, where: str) -> Item | None:
    """One held-out image row as an item: the turns before the last answer (pictures attached), and that answer."""
    messages, images = row.get("messages") or [], list(row.get("images") or [])
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
    if not last:  # no answer, or an answer with nothing before it
        return None
    return Item(id=str(number), prompt=attach(messages[:last], images),
                reference=content_text(messages[last]["content"]).strip(), where=where)


def attach(messages: Messages, images: list[str]) -> Messages:
    """The turns with each bare image placeholder given its picture, in order (the row's `images`)."""
    pictures = iter(images)
    out: Messages = []
    for message in messages:
        content = message["content"]
        if not isinstance(content, str):
            content = [{"type": "image", "image": next(pictures)} if _is_image(p) else dict(p) for p in content]
        out.append({**message, "content": content})
    return out


def image_refs(prompt: Messages) -> list[str]:
    """The pictures a prompt carries, in order."""
    return [p.get("image") or p.get("image_url", {}).get("url", "") for m in prompt
            if not isinstance(m["content"], str) for p in m["content"] if _is_image(p)]


def split(prompt: Messages) -> tuple[Messages, list[str]]:
    """(messages for a processor's chat template: content parts, bare image placeholders; the picture refs)."""
    out: Messages = []
    for message in prompt:
        content = message["content"]
        if isinstance(content, str):
            parts = [{"type": "text", "text": content}]
        else:
            parts = [{"type": "image"} if _is_image(p) else {"type": "text", "text": str(p.get("text", ""))}
                     for p in content]
        out.append({"role": message["role"], "content": parts})
    return out, image_refs(prompt)


def without_images(prompt: Messages) -> Messages:
    """The same prompt with its pictures taken out (does the model read the pixels, or guess from the words?)."""
    return [{**m, "content": m["content"] if isinstance(m["content"], str) else
             [p for p in m["content"] if not _is_image(p)]} for m in prompt]
