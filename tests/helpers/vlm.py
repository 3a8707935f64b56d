"""Images as OpenAI content parts for the serving tests: small solid-colour images, base64 data URLs."""

from __future__ import annotations

import base64
import io


def image_bytes(color: tuple[int, int, int] = (220, 30, 30), size: tuple[int, int] = (64, 64), fmt: str = "PNG") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt)
    return buf.getvalue()


def data_url(raw: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64," + base64.b64encode(raw).decode()


def image_part(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}
