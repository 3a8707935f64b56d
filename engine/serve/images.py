"""Images in chat requests: taken from the request itself, checked against limits, decoded here.

Why not hand the client's content parts to the processor's chat template: its `load_image` fetches
any http(s) URL and reads any local path it is given, which on a server is an SSRF hole and a file
read for whoever can reach the port. So every image part is resolved here and replaced by a bare
`{"type": "image"}` before the template sees the messages: `data:` URLs (base64 PNG, JPEG or WebP)
always, http(s) only when the operator allowed remote images (public addresses, a timeout and the
byte cap), and nothing else ever — no file://, no paths. Each refusal is an OpenAI error naming the
part (`messages[0].content[1].image_url`): 413 for bytes, 400 for the rest.
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import socket
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass
from typing import Any

from .protocol import ApiError, ImagePart, Message

FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}
MEDIA_TYPES = {"image/png", "image/jpeg", "image/jpg", "image/webp"}
REMOTE_HINT = "deploy.allow_remote_images: true in the job (or --allow-remote-images for serve)"


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int
    max_images: int
    allow_remote: bool = False
    fetch_timeout: float = 10.0


def refuse_images(messages: list[Message], served_name: str) -> None:
    """A text-only model: any image part is a 400 that says why."""
    for i, message in enumerate(messages):
        for j, _part in message.image_parts():
            raise ApiError(
                400, f"The model `{served_name}` reads text only and cannot take images; send text content, "
                "or serve a vision-language model.", param=f"messages[{i}].content[{j}]", code="images_not_supported",
            )


def gather(messages: list[Message], limits: ImageLimits) -> tuple[list[dict[str, Any]], list[Any]]:
    """Messages for the chat template (each image part → {"type": "image"}) and the decoded RGB images, in order."""
    parts = [(i, j, part) for i, m in enumerate(messages) for j, part in m.image_parts()]
    if len(parts) > limits.max_images:
        i, j, _ = parts[limits.max_images]
        raise ApiError(400, f"Too many images: this server takes at most {limits.max_images} per request; "
                       f"this one has {len(parts)}.", param=f"messages[{i}].content[{j}]", code="too_many_images")
    for i, m in enumerate(messages):
        if m.role != "user" and m.image_parts():
            j = m.image_parts()[0][0]
            raise ApiError(400, f"Images are allowed in user messages only; this one is from the {m.role}.",
                           param=f"messages[{i}].content[{j}]", code="invalid_image_url")
    images = [load(part, limits, f"messages[{i}].content[{j}].image_url") for i, j, part in parts]
    out: list[dict[str, Any]] = []
    for m in messages:
        role = "system" if m.role == "developer" else m.role
        if isinstance(m.content, str):
            out.append({"role": role, "content": m.content})
        else:
            out.append({"role": role, "content": [
                {"type": "image"} if isinstance(p, ImagePart) else {"type": "text", "text": p.text} for p in m.content
            ]})
    return out, images


def load(part: ImagePart, limits: ImageLimits, param: str) -> Any:
    url = part.image_url.url.strip()
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "data":
        raw = from_data_url(url, limits, param)
    elif scheme in ("http", "https"):
        if not limits.allow_remote:
            raise ApiError(
                400, "Remote image URLs are refused: this server does not fetch URLs a client names. Send the image "
                f"inline as a data: URL (base64 PNG, JPEG or WebP), or have the operator set {REMOTE_HINT}.",
                param=param, code="remote_image_refused",
            )
        raw = fetch(url, limits, param)
    else:
        raise ApiError(400, "Give the image as a data: URL (data:image/png;base64,...): PNG, JPEG or WebP. This server "
                       "never reads files or paths, and other URL schemes are refused.", param=param,
                       code="invalid_image_url")
    return decode(raw, limits, param)


def _too_big(limits: ImageLimits, param: str, size: str) -> ApiError:
    return ApiError(413, f"Image too large: {size}; the limit is {limits.max_bytes} bytes per image.", param=param,
                    code="image_too_large")


def from_data_url(url: str, limits: ImageLimits, param: str) -> bytes:
    head, comma, payload = url.partition(",")
    meta = head[len("data:"):].lower().split(";")
    if not comma or "base64" not in meta[1:]:
        raise ApiError(400, "Malformed data URL: expected data:image/png;base64,<base64 bytes>.", param=param,
                       code="invalid_image_url")
    if meta[0] and meta[0] not in MEDIA_TYPES:
        raise ApiError(400, f"Unsupported image type {meta[0]}: send PNG, JPEG or WebP.", param=param,
                       code="invalid_image_format")
    payload = "".join(payload.split())  # some clients wrap base64 at 76 columns
    if len(payload) // 4 * 3 > limits.max_bytes + 2:  # refuse before decoding what cannot pass
        raise _too_big(limits, param, f"about {len(payload) // 4 * 3} bytes")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "The image's base64 data cannot be decoded.", param=param, code="invalid_image") from None
    if len(raw) > limits.max_bytes:
        raise _too_big(limits, param, f"{len(raw)} bytes")
    return raw


def decode(raw: bytes, limits: ImageLimits, param: str) -> Any:
    """Bytes → an RGB PIL image, the pixel count checked from the header before any pixel is decoded."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
            if image.format not in FORMATS:
                raise ApiError(400, f"Unsupported image format {image.format}: send PNG, JPEG or WebP.", param=param,
                               code="invalid_image_format")
            width, height = image.size
            if width * height > limits.max_pixels:
                raise ApiError(400, f"Image too large: {width}×{height} = {width * height} pixels; the limit is "
                               f"{limits.max_pixels} pixels per image.", param=param, code="image_too_large")
            image.load()
            return image.convert("RGB")
    except ApiError:
        raise
    except Image.DecompressionBombError:
        raise ApiError(400, f"Image too large: over {limits.max_pixels} pixels per image.", param=param,
                       code="image_too_large") from None
    except Exception as exc:  # PIL raises many kinds for broken data: each is the client's to fix
        raise ApiError(400, f"The image cannot be decoded as PNG, JPEG or WebP ({type(exc).__name__}).", param=param,
                       code="invalid_image") from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect could point anywhere, including this server's own network


def _opener() -> urllib.request.OpenerDirector:
    """http(s) only: no file:, ftp: or data: handlers, no redirects followed, no proxy from the environment."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler({}), urllib.request.HTTPHandler(), urllib.request.HTTPSHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor(), _NoRedirect()):
        opener.add_handler(handler)
    return opener


def fetch(url: str, limits: ImageLimits, param: str) -> bytes:
    """GET a remote image (allowed by the operator): public addresses only, a timeout, at most max_bytes."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname
    if not host:
        raise ApiError(400, "The image URL names no host.", param=param, code="invalid_image_url")
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ApiError(400, f"The image URL's host {host} cannot be resolved.", param=param,
                       code="image_fetch_failed") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise ApiError(400, f"The image URL's host {host} is a private, loopback or reserved address; this server "
                           "fetches images from public addresses only.", param=param, code="remote_image_refused")
    try:
        with _opener().open(urllib.request.Request(url, headers={"User-Agent": "yichuidingyin"}),
                            timeout=limits.fetch_timeout) as resp:
            if resp.status != 200:
                raise ApiError(400, f"Fetching the image gave HTTP {resp.status}; redirects are not followed.",
                               param=param, code="image_fetch_failed")
            raw = resp.read(limits.max_bytes + 1)
    except ApiError:
        raise
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ApiError(400, f"The image could not be fetched ({type(exc).__name__}).", param=param,
                       code="image_fetch_failed") from None
    if len(raw) > limits.max_bytes:
        raise _too_big(limits, param, f"over {limits.max_bytes} bytes")
    return raw
