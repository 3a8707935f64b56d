"""Images as terminal thumbnails: each cell is "▀" with the upper pixel as its colour and the lower as its background.

Two pixels a cell means a 16×8-cell thumbnail shows 16×16 pixels — enough to see that a dataset's
images are the pictures the operator meant, in any terminal with true colour, with no image
protocol. PIL is imported when a thumbnail is drawn (the wizard must start fast), never torch.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from rich.color import Color
from rich.style import Style
from rich.text import Text

UPPER_HALF = "▀"
WIDTH, HEIGHT = 16, 8  # cells


def open_image(ref: str) -> Any:
    """A dataset image reference (a path, or a data: URL) as an RGB PIL image."""
    from PIL import Image

    if ref.startswith("data:"):
        source: Any = io.BytesIO(base64.b64decode(ref.partition(",")[2]))
    else:
        source = ref
    with Image.open(source) as image:
        return image.convert("RGB")


def half_blocks(image: Any, width: int = WIDTH, height: int = HEIGHT) -> Text:
    """`image` (a PIL image or a reference) fitted into width × height cells, keeping its aspect ratio."""
    from PIL import Image

    if isinstance(image, str):
        image = open_image(image)
    image = image.convert("RGB")
    scale = min(width / image.width, 2 * height / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if size != image.size:
        shrink = size[0] < image.width
        image = image.resize(size, Image.Resampling.BOX if shrink else Image.Resampling.NEAREST)
    pixels = image.load()
    text = Text(no_wrap=True, overflow="crop")
    for y in range(0, image.height, 2):
        if y:
            text.append("\n")
        for x in range(image.width):
            top = Color.from_rgb(*pixels[x, y])
            bottom = Color.from_rgb(*pixels[x, y + 1]) if y + 1 < image.height else None
            text.append(UPPER_HALF, Style(color=top, bgcolor=bottom))
    return text


def thumbnail(ref: str, width: int = WIDTH, height: int = HEIGHT) -> Text:
    """half_blocks of a reference, or a one-line note when it cannot be drawn (the preview lists why)."""
    try:
        return half_blocks(ref, width, height)
    except Exception as exc:  # a thumbnail is decoration: never let it break the preview
        return Text(f"[no thumbnail: {type(exc).__name__}]")


def side_by_side(blocks: list[Text], captions: list[str], gap: int = 2) -> Text:
    """Thumbnails in one row, each with its caption above; shorter ones padded so columns line up."""
    columns = [[Text(c), *b.split("\n")] for b, c in zip(blocks, captions, strict=True)]
    widths = [max(line.cell_len for line in col) for col in columns]
    out = Text(no_wrap=True, overflow="crop")
    for row in range(max((len(c) for c in columns), default=0)):
        if row:
            out.append("\n")
        for k, (col, width) in enumerate(zip(columns, widths, strict=True)):
            line = col[row] if row < len(col) else Text()
            out.append_text(line)
            if k < len(columns) - 1:
                out.append(" " * (width - line.cell_len + gap))
    return out
