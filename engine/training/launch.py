"""How a training stage runs: in this process, or as N processes (per machine) under torchrun.

torchrun, not `accelerate launch`: on a CPU machine accelerate treats several processes as an
MPI job and started one process here (../shared/STACK.md), while torchrun's gloo path works,
and on GPUs transformers' Trainer reads the same torchrun environment. The strategy's settings
(DDP, FSDP with transformer-block auto-wrap, DeepSpeed ZeRO-2/3) are rendered from
templates/launch/ into jobs/<name>/launch/<stage>/ and read by every rank as TrainingArguments.

Every rank re-enters the same stage code (`python -m engine.worker JOB_DIR STAGE`,
argv lists only); rank 0 alone writes outputs (rank 0 of each machine in a multi-node run, where
every machine has its own jobs/ folder) and events, and its result comes back to this process in
result.json. The parent keeps state.json to itself.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..files import JobFiles
from ..hardware import Hardware
from ..spec import JobSpec

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates" / "launch"
SHARDED = ("fsdp", "deepspeed-zero2", "deepspeed-zero3")


@dataclass(frozen=True)
class Layout:
    strategy: str  # none | ddp | fsdp | deepspeed-zero2 | deepspeed-zero3
    nproc: int  # processes on this machine
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500
    backend: str = "gloo"
    settings: str | None = None  # the rendered strategy file (TrainingArguments keys)

    @property
    def world(self) -> int:
        return self.nproc * self.nnodes

    @property
    def launched(self) -> bool:
        """True when the stage needs torchrun: several processes, or a sharding engine."""
        return self.world > 1 or self.strategy in SHARDED

    def describe(self) -> str:
        if not self.launched:
            return "1 process"
        nodes = f" on each of {self.nnodes} machines" if self.nnodes > 1 else ""
        return f"{self.strategy}, {self.nproc} processes{nodes} ({self.backend})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _devices(hw: Hardware) -> int:
    return len(hw.gpus) or hw.npus


def problems(spec: JobSpec, hw: Hardware) -> list[str]:
    """What stops this job's parallel settings from running on this machine, one line each."""
    p, out = spec.parallel, []
    devices = _devices(hw)
    nproc = p.num_processes if isinstance(p.num_processes, int) else max(1, devices)
    if p.strategy == "none" and nproc * p.nnodes > 1:
        out.append(f"parallel.strategy: none runs one process, but {nproc * p.nnodes} are asked for; use auto or ddp")
    if devices and nproc > devices:
        out.append(f"parallel.num_processes: {nproc} processes but this machine has {devices} GPUs; use auto")
    if p.strategy in SHARDED and not hw.gpus:
        out.append(f"parallel.strategy: {p.strategy} shards the model across GPUs and this machine has none; "
                   "use ddp (with num_processes) or none")
    if p.strategy.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        out.append(f"parallel.strategy: {p.strategy} needs the deepspeed package; install it: pip install deepspeed")
    if p.strategy == "fsdp" and spec.quantization() == "8bit":
        out.append("parallel.strategy: FSDP cannot shard 8-bit weights; use qlora (4-bit), ddp, or quantization: none")
    return out


def resolve(spec: JobSpec, hw: Hardware, job_dir: Path | None = None) -> Layout:
    """The layout for this machine; UserError listing every problem if it cannot run.

    strategy auto over several GPUs is DDP, or FSDP when the estimator (given the job folder, so
    it can find the model's config.json) says one GPU cannot hold a whole DDP copy.
    """
    found = problems(spec, hw)
    if found:
        raise UserError(*found)
    p = spec.parallel
    nproc = p.num_processes if isinstance(p.num_processes, int) else max(1, _devices(hw))
    strategy = p.strategy
    if strategy == "auto":
        strategy = "ddp" if nproc * p.nnodes > 1 else "none"
        if strategy == "ddp" and hw.gpus and job_dir is not None and _estimated(spec, job_dir, hw) == "fsdp":
            strategy = "fsdp"
    if strategy == "ddp" and nproc * p.nnodes == 1:
        strategy = "none"  # DDP over one process is just one process
    backend = {"cuda": "nccl", "npu": "hccl"}.get(hw.accelerator, "gloo")
    return Layout(strategy, nproc, p.nnodes, p.node_rank, p.master_addr, p.master_port, backend)


def _estimated(spec: JobSpec, job_dir: Path, hw: Hardware) -> str | None:
    """engine.estimate's pick for strategy auto; None (plain DDP) when it has no figures for this model."""
    try:
        from ..estimate import auto_strategy

        return auto_strategy(spec, job_dir, hw)
    except (ImportError, OSError, ValueError, UserError):
        return None


def torchrun_argv(layout: Layout, job_dir: Path, stage: str) -> list[str]:
    """One machine: --standalone (a free port on loopback). Several: the job's rendezvous settings."""
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(layout.nproc)]
    if layout.nnodes == 1:
        argv.append("--standalone")
    else:
        argv += ["--nnodes", str(layout.nnodes), "--node-rank", str(layout.node_rank),
                 "--master-addr", layout.master_addr, "--master-port", str(layout.master_port)]
    return argv + ["-m", "engine.worker", str(job_dir), stage]


def render_settings(layout: Layout, spec: JobSpec, stage: str, command: list[str], layer_classes: list[str]) -> str:
    """The strategy's settings file (YAML, commented) from templates/launch/<strategy>.yaml.j2."""
    from ..render import template_env, yaml_value

    env = template_env()
    env.filters["v"] = yaml_value
    template = env.get_template(f"launch/{layout.strategy}.yaml.j2")
    return template.render(
        job=spec.name,
        stage=stage,
        world=layout.world,
        backend=layout.backend,
        command=" ".join(shlex.join(command).split()),  # one comment line, whatever the paths hold
        layer_classes=layer_classes,
        gradient_checkpointing=spec.train.gradient_checkpointing,
    )


def settings(layout: Layout) -> dict[str, Any]:
    """The rendered strategy's TrainingArguments keys (every rank reads them)."""
    if not layout.settings:
        return {}
    import yaml

    data = yaml.safe_load(Path(layout.settings).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise UserError(f"{layout.settings}: not a mapping of training settings; run the job again to re-render it")
    return data


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def run_dir(job_dir: Path, stage: str) -> Path:
    return JobFiles(job_dir).launch(stage)
