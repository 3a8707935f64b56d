"""What a server needs to know, and the checks that run before anything is loaded.

The API key is never a field here: it stays in the environment variable named by api_key_env and
is read by the process that checks it, so it cannot leak into job.yaml, serve.json, logs or argv.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import UserError
from ..spec.stages import MODEL_FOLDERS

DEFAULT_MAX_BODY = 1024 * 1024  # 1 MiB: a long chat fits many times over; a flood does not
DEFAULT_MAX_IMAGE_BYTES = 5 * 1024 * 1024  # a phone photo as JPEG fits; a vision model resizes it anyway
DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096  # refused from the header, before decoding: no decompression bombs
DEFAULT_MAX_IMAGES = 4
# Folders named after what made them (a stage), not after the model: the job folder names it instead.
GENERIC_DIRS = {"model", *MODEL_FOLDERS.values()}


@dataclass(frozen=True)
class ServeSettings:
    model_dir: Path
    served_name: str
    host: str = "127.0.0.1"
    port: int = 8000
    api_key_env: str = "YCDY_API_KEY"
    max_queue: int = 16
    max_body_bytes: int = DEFAULT_MAX_BODY
    insecure: bool = False
    trust_remote_code: bool = False
    backend: str = "builtin"  # resolved: builtin or vllm
    # Images (vision-language models only): a text model refuses every image part.
    allow_remote_images: bool = False  # fetch http(s) image URLs a client names (public addresses only)
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_images: int = DEFAULT_MAX_IMAGES  # per request; vLLM gets it as --limit-mm-per-prompt

    def body_limit(self, vision: bool) -> int:
        """A vision model's body also carries its images, base64-encoded (4 bytes for every 3)."""
        return self.max_body_bytes + (self.max_images * -(-self.max_image_bytes * 4 // 3) if vision else 0)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "localhost") else self.host
        if host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["model_dir"] = str(self.model_dir)
        return data


def default_served_name(model_dir: Path) -> str:
    """The folder's name, or its parent's when the folder is a generic stage output (jobs/x/export → x)."""
    path = model_dir.resolve()
    name = path.parent.name if path.name in GENERIC_DIRS and path.parent.name else path.name
    return name or "model"


def api_key(settings: ServeSettings) -> str | None:
    return os.environ.get(settings.api_key_env) or None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def security_problems(
    settings: ServeSettings, host_field: str = "--host", insecure_hint: str = "pass --insecure"
) -> list[str]:
    """Refuse to put an unprotected model on the network unless the operator says so explicitly."""
    if is_loopback(settings.host) or settings.insecure or api_key(settings):
        return []
    return [
        f"{host_field}: {settings.host} lets other machines reach the server, but no API key is set; "
        f"export {settings.api_key_env}=<a long random key> first (the variable named by api_key_env), "
        f"or {insecure_hint} to serve without one"
    ]


def check_model_dir(model_dir: Path) -> list[str]:
    if not model_dir.is_dir():
        return [f"{model_dir}: no such folder; give a model folder (merged/, export/ or any Hugging Face folder)"]
    if not (model_dir / "config.json").is_file() and not any(model_dir.glob("*.gguf")):
        return [f"{model_dir}: no config.json here; is this a model folder?"]
    return []


def bind_socket(host: str, port: int, port_field: str = "--port") -> socket.socket:
    """Bind now, before the model loads, so a taken port is reported at once and by name."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio turns Nagle off (TCP_NODELAY) only for sockets whose proto is IPPROTO_TCP,
    # and with Nagle on every streamed chunk waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UserError(
                f"{port_field}: port {port} on {host} is already in use; choose another port, or stop the "
                "server using it (./yichuidingyin.sh stop JOB_DIR for one this tool started)"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UserError(f"{port_field}: cannot listen on {host}: no such address on this machine") from None
        if exc.errno == errno.EACCES:
            raise UserError(f"{port_field}: port {port} needs root; use a port above 1023") from None
        raise
    sock.set_inheritable(False)
    return sock


def port_problem(host: str, port: int, port_field: str) -> str | None:
    """The line bind_socket would raise, checked by binding and closing at once."""
    try:
        bind_socket(host, port, port_field).close()
    except UserError as exc:
        return exc.lines[0]
    return None
