"""download: make the base model present on this machine and record what it is (checksums).

hub: local checks a folder in place (config, tokenizer, weights) and never copies it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UserError
from ..spec import JobSpec
from ..util.fs import sha256_file, write_json_atomic
from .contract import Context, StagePlan

NAME = "download"
MANIFEST = "model.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")
WEIGHT_GLOBS = ("*.safetensors", "pytorch_model*.bin", "*.gguf")


def spec_slice(spec: JobSpec) -> Any:
    return spec.model.model_dump(mode="json")


def outputs(spec: JobSpec, job_dir: Path) -> list[Path]:
    return [job_dir / MANIFEST]


def unavailable(spec: JobSpec) -> str | None:
    if spec.model.hub != "local":
        return f"hub: {spec.model.hub} downloads come in a later version; use hub: local with a model folder"
    return None


def check_local_dir(path: Path) -> list[str]:
    """Problems that would stop a later stage from loading this folder, one line each."""
    if not path.is_dir():
        return [f"model.id: {path} is not a folder; give the folder that holds config.json"]
    problems = []
    if not (path / "config.json").is_file():
        problems.append(f"model.id: {path} has no config.json; is this the model folder?")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        problems.append(f"model.id: {path} has no tokenizer (tokenizer.json / tokenizer.model); copy it in")
    if not any(any(path.glob(pattern)) for pattern in WEIGHT_GLOBS):
        problems.append(f"model.id: {path} has no weights (*.safetensors or pytorch_model*.bin)")
    return problems


def plan(spec: JobSpec, ctx: Context) -> StagePlan:
    path = Path(spec.model.id)
    notes = check_local_dir(path)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0
    return StagePlan(
        NAME,
        f"use the local model folder {path} (checked in place, not copied)",
        [str(ctx.job_dir / MANIFEST)],
        estimate={"download_gb": 0.0, "model_gb": round(size / 1e9, 3)},
        notes=notes,
    )


def run(spec: JobSpec, ctx: Context) -> dict[str, Any]:
    path = Path(spec.model.id).resolve()
    problems = check_local_dir(path)
    if problems:
        raise UserError(*problems)
    files = sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith("."))
    checksums: dict[str, str] = {}
    total = sum(f.stat().st_size for f in files)
    done = 0
    for f in files:
        checksums[str(f.relative_to(path))] = sha256_file(f)
        done += f.stat().st_size
        ctx.emit("progress", step=done, total=total, unit="B", message=f"checksum {f.name}")
    record = {"path": str(path), "hub": "local", "files": checksums, "bytes": total}
    write_json_atomic(ctx.job_dir / MANIFEST, record)
    ctx.log(f"model folder {path}: {len(files)} files, {total / 1e6:.1f} MB, checksums recorded")
    return {"path": str(path), "manifest": str(ctx.job_dir / MANIFEST)}
