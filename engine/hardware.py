"""What this machine has: GPUs (via nvidia-smi, no torch import), Ascend NPUs, CPU, RAM, free disk.

Light on purpose: `plan` and the wizard call it, and both must answer in well under a second.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_gb: float
    bf16: bool


@dataclass(frozen=True)
class Hardware:
    gpus: list[Gpu] = field(default_factory=list)
    npus: int = 0
    cpu_cores: int = 1
    ram_gb: float = 0.0
    disk_free_gb: float = 0.0
    disk_path: str = "."

    @property
    def accelerator(self) -> str:
        if self.gpus:
            return "cuda"
        if self.npus:
            return "npu"
        return "cpu"

    def device_memory_gb(self) -> float:
        """Memory of the smallest accelerator (what one process can count on), or RAM on CPU."""
        if self.gpus:
            return min(g.memory_gb for g in self.gpus)
        return self.ram_gb

    def precision(self, requested: str) -> str:
        """Resolve precision: auto → bf16 on GPUs that support it, fp16 on other GPUs, fp32 on CPU."""
        if requested != "auto":
            return requested
        if self.gpus:
            return "bf16" if all(g.bf16 for g in self.gpus) else "fp16"
        return "fp32"

    def summary(self) -> str:
        if self.gpus:
            names = ", ".join(f"{g.name} {g.memory_gb:.0f} GB" for g in self.gpus)
            dev = f"{len(self.gpus)} GPU ({names})"
        elif self.npus:
            dev = f"{self.npus} Ascend NPU"
        else:
            dev = "no GPU (CPU only)"
        return f"{dev}; {self.cpu_cores} CPU cores, {self.ram_gb:.0f} GB RAM; {self.disk_free_gb:.1f} GB free at {self.disk_path}"

    def to_dict(self) -> dict:
        return asdict(self)


def _nvidia_gpus() -> list[Gpu]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=index,name,memory.total,compute_cap", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    allowed = None if visible is None else {v.strip() for v in visible.split(",") if v.strip()}
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4:
            continue
        index, name, mem_mib, cap = parts[:4]
        if allowed is not None and index not in allowed:
            continue
        try:
            major = float(cap)
        except ValueError:
            major = 0.0
        gpus.append(Gpu(int(index), name, float(mem_mib) / 1024, bf16=major >= 8.0))
    return gpus


def _npu_count() -> int:
    if importlib.util.find_spec("torch_npu") is None:
        return 0
    exe = shutil.which("npu-smi")
    if exe is None:
        return 1
    try:
        out = subprocess.run([exe, "info", "-l"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 1
    return max(1, sum(1 for line in out.splitlines() if "NPU ID" in line))


def _ram_gb() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def free_disk_gb(path: Path) -> float:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free / 1e9


def detect(disk_path: Path | None = None) -> Hardware:
    disk = (disk_path or Path.cwd()).resolve()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return Hardware(
        gpus=_nvidia_gpus(),
        npus=_npu_count(),
        cpu_cores=cores,
        ram_gb=_ram_gb(),
        disk_free_gb=free_disk_gb(disk),
        disk_path=str(disk),
    )
