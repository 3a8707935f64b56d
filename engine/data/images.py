"""Images in dataset rows: find them, check each one before any model loads, and lay rows out for TRL.

Users bring rows in the ms-swift / LLaMA-Factory form (text with one `<image>` tag per entry of an
`images` list) or with OpenAI-style content parts. Parts are first flattened to that tagged form so
one converter (formats.py / preference.py) checks the text, then every image is opened here — its
header only, so a big set is checked in seconds — and the row is rebuilt as TRL 1.16's structured
messages: content lists with `{"type": "image"}` placeholders, and absolute paths in `images`.
Training never fetches from the network, so web addresses are refused with the way to download first.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

from .rows import Problems, Record

IMAGE_TAG = "<image>"
PART_FIELDS = ("messages", "conversations", "prompt", "chosen", "rejected", "completion", "rejected_response")
Parts = list[dict[str, Any]]


def has_tags(text: Any) -> int:
    return text.count(IMAGE_TAG) if isinstance(text, str) else 0


def flatten_parts(record: Record, problems: Problems) -> list[str] | None:
    """Turn content-part lists into tagged text in place; the image references they named, in order.

    `{"type": "image"}` with no payload is a placeholder filled from the row's `images` list, as in
    TRL's own rows. None after a problem (an unknown part type, images given twice).
    """
    found: list[str] = []
    data = dict(record.data)
    for field in PART_FIELDS:
        value = data.get(field)
        if isinstance(value, dict) and field != "messages":
            value = [value]
        if not isinstance(value, list):
            continue
        turns = []
        for j, turn in enumerate(value):
            key = "value" if field == "conversations" else "content"
            if isinstance(turn, dict) and isinstance(turn.get(key), list):
                text = _flatten(turn[key], f"{field}[{j}].{key}", record, problems, found)
                if text is None:
                    return None
                turn = {**turn, key: text}
            turns.append(turn)
        data[field] = turns if isinstance(data.get(field), list) else turns[0]
    if found and _listed(record.data) is not None:
        problems.at(record, "images are given twice: as content parts and in the images field; use one of them")
        return None
    record.data = data
    return found


def _flatten(parts: list[Any], where: str, record: Record, problems: Problems, found: list[str]) -> str | None:
    text = []
    for k, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if isinstance(part, str):
            text.append(part)
        elif kind == "text" and isinstance(part.get("text"), str):
            text.append(part["text"])
        elif kind == "image":
            ref = part.get("image") or part.get("url") or part.get("path")
            if ref is not None:
                found.append(ref)
            text.append(IMAGE_TAG)
        elif kind == "image_url":
            url = part.get("image_url")
            found.append(url.get("url") if isinstance(url, dict) else url)
            text.append(IMAGE_TAG)
        else:
            problems.at(record, f"{where}[{k}]: a content part must be text, image or image_url; got "
                        f"{kind or type(part).__name__!r}")
            return None
    return "".join(text)


def _listed(data: dict[str, Any]) -> Any:
    return data.get("images", data.get("image"))


def listed_images(record: Record, problems: Problems) -> list[str] | None:
    """The row's `images` (or TRL's single `image`) as a list of references; None after a problem."""
    value = _listed(record.data)
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.at(record, "images must be a list of image paths (relative to the data file, or absolute)")
        return None
    return value


def check_image(ref: Any, where: str, record: Record, problems: Problems, limit: int) -> str | None:
    """The image as TRL will load it (an absolute path, or the data: URL as given); None after a problem."""
    if not isinstance(ref, str) or not ref.strip():
        problems.at(record, f"{where}: an image reference must be a path or a data: URL, got {ref!r}")
        return None
    shown = ref if len(ref) <= 60 else ref[:57] + "..."
    if ref.startswith(("http://", "https://")):
        problems.at(record, f"{where}: {shown} is a web address, and training never fetches from the network; "
                    "download it first (e.g. curl -o images/1.png URL) and give the file's path")
        return None
    if ref.startswith("data:"):
        head, _, payload = ref.partition(",")
        try:
            raw = base64.b64decode(payload, validate=True) if head.endswith(";base64") else b""
        except (binascii.Error, ValueError):
            raw = b""
        if not raw:
            problems.at(record, f"{where}: a data: URL must be data:image/...;base64,<base64 bytes>")
            return None
        size = _size(io.BytesIO(raw))
        resolved = ref
    else:
        path = Path(ref.removeprefix("file://")).expanduser()
        path = (path if path.is_absolute() else Path(record.file).parent / path).resolve()
        if not path.exists():
            problems.at(record, f"{where}: {shown} not found (looked for {path})")
            return None
        if not path.is_file():
            problems.at(record, f"{where}: {path} is a folder, not an image file")
            return None
        stat = path.stat()
        size = _file_size(str(path), stat.st_mtime_ns, stat.st_size)
        resolved = str(path)
    if isinstance(size, str):
        problems.at(record, f"{where}: {shown} {size}")
        return None
    width, height = size
    if width * height > limit:
        problems.at(record, f"{where}: {shown} is {width}×{height} = {width * height / 1e6:.1f} MP, over "
                    f"dataset.max_image_pixels ({limit}); shrink it first or raise the limit")
        return None
    return resolved


@lru_cache(maxsize=4096)
def _file_size(path: str, _mtime_ns: int, _bytes: int) -> tuple[int, int] | str:
    """(width, height) of an image file, or why it cannot be used; cached while the file is unchanged."""
    try:
        with open(path, "rb") as f:
            return _size(f)
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"


def _size(stream: Any) -> tuple[int, int] | str:
    """Open the header and verify the data without decoding pixels (fast even for large sets)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                size = image.size
                image.verify()
    except Image.DecompressionBombError:
        return "is far too large to open (a decompression-bomb size); shrink it first"
    except UnidentifiedImageError:
        return "is not an image (PNG, JPEG, WebP, GIF or BMP expected)"
    except (OSError, SyntaxError, ValueError) as exc:
        return f"is a damaged image ({exc})"
    return size


def open_image(ref: str, max_pixels: int | None = None) -> Any:
    """A checked image reference (absolute path, file:// or data: URL) as an RGB picture, at most max_pixels.

    For the code that feeds pictures to a model after the rows were checked (the eval runner): an image
    over the bound is scaled down, keeping its aspect ratio, rather than refused.
    """
    from PIL import Image

    if ref.startswith("data:"):
        stream: Any = io.BytesIO(base64.b64decode(ref.partition(",")[2]))
    else:
        stream = Path(ref.removeprefix("file://")).expanduser()
    with Image.open(stream) as image:
        picture = image.convert("RGB")
    width, height = picture.size
    if max_pixels and width * height > max_pixels:
        scale = (max_pixels / (width * height)) ** 0.5
        picture = picture.resize((max(1, int(width * scale)), max(1, int(height * scale))))
    return picture


def check_tags(messages: list[dict[str, Any]], count: int, record: Record, problems: Problems) -> bool:
    """One `<image>` tag per image, none in an answer; False after recording what is wrong."""
    answer = [m for m in messages if m["role"] == "assistant" and has_tags(m["content"])]
    if answer:
        problems.at(record, f"{IMAGE_TAG} in an assistant turn; images go in the user's turns")
        return False
    tags = sum(has_tags(m["content"]) for m in messages)
    if tags != count:
        problems.at(record, f"{tags} {IMAGE_TAG} tag{'s' if tags != 1 else ''} but {count} "
                    f"image{'s' if count != 1 else ''}; put one {IMAGE_TAG} where each image goes, in order")
        return False
    return True


def to_parts(messages: list[dict[str, Any]]) -> list[dict[str, Parts]]:
    """Messages with text content as TRL's structured content lists; each tag becomes an image placeholder."""
    out = []
    for message in messages:
        parts: Parts = []
        pieces = message["content"].split(IMAGE_TAG)
        for k, piece in enumerate(pieces):
            if k:
                parts.append({"type": "image"})
            if piece:
                parts.append({"type": "text", "text": piece})
        out.append({**message, "content": parts})
    return out
