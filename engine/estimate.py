"""Will it fit? A job's memory per device and disk, from the model's config.json alone, judged
against this machine — before anything is downloaded or loaded.

`plan` prints it, the wizard shows it per method, and `run` refuses a job that will not fit
unless --force. The arithmetic is in engine.sizing (memory) and engine.shapes (parameters); this
module finds the config, resolves the job's settings on this machine, adds disk, and says the
verdict. No torch: it is all arithmetic.

$YCDY_DEVICE_MEMORY_GB and $YCDY_DISK_FREE_GB replace the detected memory per device (RAM on a
CPU-only machine) and free disk: to plan for another machine, or to test the refusal.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import UserError
from .files import CHECKPOINTS
from .hardware import Hardware
from .registry import builtin, model_config
from .shapes import ParamCount, Shape, count_params, shape_of
from .sizing import (
    BYTES,
    NF4_BYTES,
    MemoryEstimate,
    Settings,
    Verdict,
    all_methods,
    judge_memory,
    level,
    memory,
)
from .spec import JobSpec
from .spec.stages import FACTS, MODEL_FOLDERS, TRAINING
from .state import State

ENV_MEMORY = "YCDY_DEVICE_MEMORY_GB"
ENV_DISK = "YCDY_DISK_FREE_GB"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")
RANK = {"fits": 0, "unknown": 0, "tight": 1, "will not fit": 2}

__all__ = ["JobEstimate", "MemoryEstimate", "Settings", "Verdict", "auto_strategy", "estimate_config", "for_job",
           "memory"]


@dataclass
class DiskEstimate:
    """GB (10^9 bytes, as disks are sold) to download and to write, by output."""

    download_gb: float
    outputs: dict[str, float]
    total_gb: float
    free_gb: float
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class JobEstimate:
    source: str  # where config.json came from
    params: ParamCount
    settings: Settings
    memory: MemoryEstimate  # the job's own method, worst training stage
    stage: str  # which training stage that is
    methods: dict[str, MemoryEstimate]  # the same job as lora / qlora / full
    device_gb: float
    memory_verdict: Verdict
    disk: DiskEstimate
    verdict: Verdict  # the worse of memory and disk
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "available": True, "source": self.source, "params": self.params.to_dict(),
            "settings": asdict(self.settings), "stage": self.stage, "memory": self.memory.to_dict(),
            "methods": {k: v.to_dict() for k, v in self.methods.items()}, "device_memory_gb": self.device_gb,
            "memory_verdict": self.memory_verdict.to_dict(), "disk": self.disk.to_dict(),
            "verdict": self.verdict.to_dict(), "notes": self.notes,
        }


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise UserError(f"${name}: {raw!r} is not a number of GB; unset it or give e.g. 24") from None


def device_memory_gb(hw: Hardware) -> float:
    """Memory one process can count on: the smallest GPU, or RAM on a CPU; the env override wins."""
    return _env_float(ENV_MEMORY, hw.device_memory_gb())


def free_disk_gb(hw: Hardware) -> float:
    return _env_float(ENV_DISK, hw.disk_free_gb)


def _read_config(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _builtin_folder(model_id: str) -> Path | None:
    entry = builtin.BUILTINS.get(model_id)
    try:
        return builtin.folder(entry) if entry is not None and builtin.is_ready(entry) else None
    except OSError:
        return None


def find_config(spec: JobSpec, job_dir: Path, state: Any = None) -> tuple[dict[str, Any] | None, str]:
    """(config, where it came from) or (None, why not): the downloaded copy, a local folder, the catalogue."""
    record = state.stage("download") if state is not None else _download_record(job_dir)
    folders: list[Path] = []
    if record.get("status") == "done" and record.get("outputs", {}).get("path"):
        folders.append(Path(record["outputs"]["path"]))
    if spec.model.hub == "local":
        folders.append(Path(spec.model.id))
    if spec.model.hub == "builtin" and (found := _builtin_folder(spec.model.id)):
        folders.append(found)
    for folder in folders:
        if (config := _read_config(folder)) is not None:
            return config, str(folder / "config.json")
    if (config := model_config(spec.model.id)) is not None:
        return config, f"catalogue entry {spec.model.id}"
    return None, f"estimate after download: no config.json for {spec.model.id} on this machine yet"


def _download_record(job_dir: Path) -> dict[str, Any]:
    try:
        return State.load(job_dir).stage("download")
    except UserError:  # an unreadable state.json: the estimate goes on without it; run says what is wrong
        return {}


def _world(spec: JobSpec, hw: Hardware) -> int:
    procs = spec.parallel.num_processes
    if procs == "auto":
        procs = len(hw.gpus) if hw.accelerator == "cuda" else 1
    if spec.parallel.strategy == "none":
        return 1
    return max(1, int(procs)) * spec.parallel.nnodes


def settings_for(spec: JobSpec, hw: Hardware, shape: Shape, stage: str = "sft") -> Settings:
    """The job's training settings on this machine, with every 'auto' resolved."""
    from .registry.targets import BY_MODEL_TYPE, resolve

    t = spec.train
    devices = _world(spec, hw)
    strategy = spec.parallel.strategy
    if strategy == "auto":
        strategy = "ddp" if devices > 1 else "none"
    kind = shape.model_type  # a VLM's language model: "qwen2_vl_text" is the family qwen2_vl
    targets = resolve(t.lora.target_modules, kind if kind in BY_MODEL_TYPE else kind.removesuffix("_text"))
    return Settings(
        method=t.method, precision=hw.precision(t.precision), batch_size=t.batch_size, max_length=t.max_length,
        gradient_checkpointing=t.gradient_checkpointing, optimizer=t.optimizer, lora_r=t.lora.r,
        lora_dropout=t.lora.dropout, targets=targets if isinstance(targets, list) else "all-linear",
        accelerator=hw.accelerator, devices=devices, strategy=strategy, preference=stage == "dpo",
    )


def image_tokens(config: dict[str, Any], max_pixels: int) -> int:
    """The most tokens one image becomes in the language model's sequence (0 for a text model).

    Fixed-size families say it in config.json (image_seq_length: LLaVA, InternVL per tile); Qwen-VL
    resizes by area, so it is dataset.max_image_pixels over the merged patch's area.
    """
    vc = config.get("vision_config")
    if not isinstance(vc, dict):
        return 0
    fixed = config.get("image_seq_length")
    if isinstance(fixed, int) and fixed > 0:
        return fixed
    patch = _side(vc.get("patch_size")) or 14
    if vc.get("spatial_merge_size"):
        return max(1, int(max_pixels) // (patch * int(vc["spatial_merge_size"])) ** 2)
    image = _side(vc.get("image_size"))
    return (image // patch) ** 2 if image else 0


def _side(value: Any) -> int:
    if isinstance(value, dict):
        value = value.get("height") or next(iter(value.values()), 0)
    if isinstance(value, list | tuple):
        value = value[0] if value else 0
    return int(value) if isinstance(value, int | float) else 0


def _auto_strategy(spec: JobSpec, shape: Shape, st: Settings, have_gb: float) -> Settings:
    """parallel.strategy: auto shards (FSDP) when one device cannot hold a DDP copy."""
    if spec.parallel.strategy != "auto" or st.devices < 2 or have_gb <= 0:
        return st
    if memory(shape, st).total_gb <= have_gb:
        return st
    return replace(st, strategy="fsdp")


def _weights_file_bytes(folder: Path) -> int:
    try:
        return sum(f.stat().st_size for f in folder.iterdir() if f.suffix in WEIGHT_SUFFIXES and f.is_file())
    except OSError:
        return 0


def disk(spec: JobSpec, job_dir: Path, shape: Shape, p: ParamCount, st: Settings, free_gb: float,
         downloaded: bool) -> DiskEstimate:
    """Download plus every output the job's stages still have to write (existing outputs are not counted).

    downloaded: the weights are on this machine already (downloaded, local, or a prepared builtin).
    Otherwise the download is parameters × the config's dtype (a builtin model is converted to fp32).
    """
    names = spec.stage_names()
    a = BYTES[st.precision]
    download = 0.0
    if "download" in names and not downloaded and spec.model.hub != "local":
        source = BYTES.get({"float32": "fp32", "float16": "fp16"}.get(shape.dtype, "bf16"), 2)
        download = p.total * (4 if spec.model.hub == "builtin" else source)
    outputs: dict[str, float] = {}
    trainable = memory(shape, st, p).trainable_params
    for stage in (n for n in names if n in TRAINING):
        folder = FACTS[stage].folder or stage
        if st.method == "full":
            outputs[folder] = 4.0 * p.total  # fp32 master weights are what gets saved
            checkpoint = (4.0 + 8.0) * p.total
        else:
            outputs[folder] = (2 if st.method == "qlora" else 4) * trainable + 20e6  # adapter + tokenizer
            checkpoint = 3 * 4.0 * trainable + 20e6
        steps = spec.train.max_steps
        kept = spec.train.save_total_limit + 1  # a new checkpoint is written before the oldest goes
        if steps is not None:
            kept = min(kept, max(1, steps // spec.train.save_steps))
        outputs[f"{CHECKPOINTS}/{stage}"] = kept * checkpoint
    if "merge" in names:
        outputs[MODEL_FOLDERS["merge"]] = a * p.total
    if "export" in names and spec.export.method != "none":
        outputs[MODEL_FOLDERS["export"]] = NF4_BYTES * p.linear + 2 * (p.total - p.linear)
    outputs = {k: v for k, v in outputs.items() if not (job_dir / k).exists()}
    total = download + sum(outputs.values())
    gb = {k: round(v / 1e9, 2) for k, v in outputs.items()}
    need = round(total / 1e9, 2)
    lvl = level(need, free_gb)
    where = f"{need:.1f} GB of disk ({download / 1e9:.1f} GB download), {free_gb:.1f} GB free at {job_dir}"
    if lvl == "will not fit":
        verdict = Verdict(lvl, f"will not fit: the job writes {where}; free space there, or put jobs on a bigger "
                               "disk with --jobs-dir", ["free disk space", "--jobs-dir on a bigger disk",
                                                        "lower train.save_total_limit"])
    else:
        verdict = Verdict(lvl, f"{lvl}: {where}")
    return DiskEstimate(round(download / 1e9, 3), gb, need, round(free_gb, 1), verdict)


def estimate_config(config: dict[str, Any], st: Settings) -> dict[str, MemoryEstimate]:
    """Memory for each method from a bare config.json dict (the catalogue's 'memory needed' column)."""
    return all_methods(shape_of(config), st)


def for_job(spec: JobSpec, job_dir: Path, hw: Hardware, state: Any = None) -> JobEstimate | str:
    """The job's estimate and verdict on this machine, or a one-line reason why there is none yet."""
    config, source = find_config(spec, job_dir, state)
    if config is None:
        return source
    try:
        shape = shape_of(config)
    except ValueError as exc:
        return f"no estimate: {source}: {exc}"
    p = count_params(shape)
    have = device_memory_gb(hw)
    worst: tuple[MemoryEstimate, Settings, str] | None = None
    pictures = image_tokens(config, spec.dataset.max_image_pixels)
    for stage in [n for n in spec.stage_names() if n in TRAINING] or ["sft"]:
        st = _auto_strategy(spec, shape, replace(settings_for(spec, hw, shape, stage), image_tokens=pictures), have)
        est = memory(shape, st, p)
        if worst is None or est.total_gb > worst[0].total_gb:
            worst = (est, st, stage)
    assert worst is not None
    est, st, stage = worst
    mem_verdict = judge_memory(shape, st, est, have)
    downloaded = bool(_download_record(job_dir).get("status") == "done") if state is None else \
        state.stage("download").get("status") == "done"
    if source.endswith("config.json") and _weights_file_bytes(Path(source).parent) > 0:
        downloaded = True  # its weights are on this machine already
    d = disk(spec, job_dir, shape, p, st, free_disk_gb(hw), downloaded)
    verdict = max((mem_verdict, d.verdict), key=lambda v: RANK[v.level])
    if not any(n in TRAINING for n in spec.stage_names()):
        verdict = d.verdict  # no training: memory is the server's or exporter's business
    return JobEstimate(source, p, st, est, stage, all_methods(shape, st), have, mem_verdict, d, verdict, est.notes)


def auto_strategy(spec: JobSpec, job_dir: Path, hw: Hardware) -> str | None:
    """What parallel.strategy: auto should be here: none, ddp, or fsdp when a DDP copy would not fit
    one device. None when there is no estimate yet (no config.json known): fall back to DDP."""
    est = for_job(spec, job_dir, hw)
    return None if isinstance(est, str) else est.settings.strategy


class Preflight:
    """`run`'s check: refuse a job that will not fit (unless --force) before its training stage starts.

    Judged once, as early as a config.json is known: before anything runs for a local model, after
    download for a hub model. Nothing is checked when no training stage is left to run.
    """

    def __init__(self, ctx: Any, pending: list[str]) -> None:
        self.ctx = ctx
        self.training = [n for n in pending if n in TRAINING]
        self.judged = not self.training

    def check(self) -> None:
        if self.judged:
            return
        ctx = self.ctx
        est = for_job(ctx.spec, ctx.job_dir, ctx.hardware, ctx.state)
        if isinstance(est, str):
            return
        self.judged = True
        stage, v = self.training[0], est.verdict
        if v.level == "will not fit":
            if not ctx.force:
                raise UserError(f"{v.message}; or run with --force to try anyway")
            ctx.events.emit(stage, "log", level="warning", message=f"{v.message}; running anyway (--force)")
        elif v.level == "tight":
            ctx.events.emit(stage, "log", level="warning", message=v.message)
        else:
            ctx.events.emit(stage, "log", level="info", message=f"estimate: {v.message}")
        ctx.events.emit(stage, "metric", estimate_gb=est.memory.total_gb, estimate_disk_gb=est.disk.total_gb)


def _count(n: int) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.1f} M"


def summary_lines(est: JobEstimate) -> list[str]:
    """What `plan` prints: memory per device with its parts, the other methods, disk, the verdict."""
    m, st = est.memory, est.settings
    where = f"{st.devices} process{'es' if st.devices > 1 else ''}, {st.strategy}" if st.devices > 1 else "1 process"
    parts = ", ".join(f"{k} {v:.2f}" for k, v in m.breakdown.items() if v >= 0.005)
    gc = "on" if st.gradient_checkpointing else "off"
    lines = [
        f"model: {_count(est.params.total)} parameters ({est.source})",
        f"memory ({st.method}, {st.precision}, batch {st.batch_size} × {st.max_length} tokens"
        + (f" (≤ {st.image_tokens} of them an image's)" if st.image_tokens else "") + f", {where}, "
        f"{est.stage}): {m.total_gb:.1f} GB per {m.per}",
        f"  {parts} GB",
        f"  activations {m.activations_no_checkpointing_gb:.2f} GB without gradient checkpointing, "
        f"{m.activations_checkpointing_gb:.2f} GB with (now {gc})",
        "  other methods: " + ", ".join(f"{k} {v.total_gb:.1f} GB" for k, v in est.methods.items() if k != st.method),
        f"disk: {est.disk.total_gb:.1f} GB (download {est.disk.download_gb:.1f}"
        + "".join(f", {k} {v:.2f}" for k, v in est.disk.outputs.items()) + f"), {est.disk.free_gb:.1f} GB free",
        f"verdict: {est.verdict.message}",
    ]
    if est.memory_verdict is not est.verdict and est.memory_verdict.level != "fits":
        lines.append(f"memory: {est.memory_verdict.message}")
    lines += [f"  fix: {f}" for f in est.verdict.fixes[1:]]
    lines += [f"  note: {n}" for n in est.notes]
    return lines
