"""Which of a repository's files the later stages need, and whether the disk can hold them.

Repositories often carry the same weights two or three times (safetensors, PyTorch .bin, GGUF,
ONNX, Mistral's consolidated.safetensors, an original/ folder for Meta's own code): fetching only
what transformers loads can halve a download.
"""

from __future__ import annotations

import shutil
from fnmatch import fnmatch
from pathlib import Path

from ...errors import UserError
from .common import RemoteFile

# Small files at the top of the repository that loading, chatting or licensing needs.
NEEDED = (
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json",
    "special_tokens_map.json", "added_tokens.json", "vocab.json", "vocab.txt", "merges.txt", "*.tiktoken",
    "chat_template.jinja", "chat_template.json", "preprocessor_config.json", "processor_config.json",
    "*.py", "README.md", "LICENSE*", "NOTICE*", "USE_POLICY.md",
)
SAFETENSORS = ("*.safetensors", "model.safetensors.index.json")
PYTORCH = ("pytorch_model*.bin", "pytorch_model.bin.index.json")
MARGIN = 64 * 1024 * 1024  # headroom for the client's temporary and lock files


def _any(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch(name, p) for p in patterns)


def select(files: list[RemoteFile]) -> list[RemoteFile]:
    """Top-level config, tokenizer and one weight format: safetensors when present, else PyTorch .bin."""
    top = [f for f in files if "/" not in f.path]
    safetensors = [f for f in top if _any(f.path, SAFETENSORS)]
    if any(f.path.endswith(".safetensors") and not f.path.startswith("consolidated") for f in safetensors):
        safetensors = [f for f in safetensors if not f.path.startswith("consolidated")]  # Mistral's own format
    if any(f.path.endswith(".safetensors") for f in safetensors):
        weights = safetensors
    else:
        weights = [f for f in top if _any(f.path, PYTORCH)]
    small = [f for f in top if _any(f.path, NEEDED)]
    chosen = {f.path: f for f in small + weights}
    return [chosen[p] for p in sorted(chosen)]


def has_weights(files: list[RemoteFile]) -> bool:
    return any(f.path.endswith((".safetensors", ".bin")) for f in files)


def present_bytes(folder: Path | None, files: list[RemoteFile]) -> int:
    """Bytes of these files already complete (right size) in a folder from an earlier download."""
    if folder is None or not folder.is_dir():
        return 0
    total = 0
    for f in files:
        p = folder / f.path
        if p.is_file() and p.stat().st_size == f.size:
            total += f.size
    return total


def free_at(path: Path) -> tuple[int, Path]:
    """Free bytes on the filesystem that holds `path` (its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free, probe


def gb(n: int | float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def preflight(need: int, where: Path, model_id: str, env_var: str) -> None:
    """Stop before downloading when the files cannot fit, rather than failing half-way."""
    if need <= 0:
        return
    free, probe = free_at(where)
    if need + MARGIN > free:
        raise UserError(
            f"download: {model_id} needs {gb(need)}, {gb(free)} free at {probe}; free some space there, or set "
            f"{env_var} to a folder on a larger disk and run again"
        )
