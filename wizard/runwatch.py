"""What a running job looks like, folded from its events.jsonl: stage status, progress with ETA,
the loss curve, the log tail and the errors. Pure and UI-free: the Run screen and the plain
front end both draw from it, and it works the same for a job this wizard started or reattached to.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.spec.stages import ORDER


@dataclass
class Progress:
    step: float = 0
    total: float = 0
    unit: str = ""
    first_t: float = 0.0
    first_step: float = 0
    last_t: float = 0.0
    eta_s: float | None = None
    message: str = ""

    def eta(self) -> float | None:
        """The engine's own ETA when it sent one, else the rate since this stage's first progress event."""
        if self.eta_s is not None:
            return self.eta_s
        done = self.step - self.first_step
        if not self.total or done <= 0 or self.last_t <= self.first_t:
            return None
        rate = done / (self.last_t - self.first_t)
        return max(0.0, (self.total - self.step) / rate)


@dataclass
class RunView:
    stages: list[str]
    status: dict[str, str] = field(default_factory=dict)  # pending | running | done | failed | skipped
    progress: dict[str, Progress] = field(default_factory=dict)
    losses: dict[str, list[float]] = field(default_factory=dict)
    log: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    errors: list[str] = field(default_factory=list)
    current: str | None = None
    offset: int = 0

    logged: int = 0  # lines ever logged (the deque keeps the last 200): readers diff against it

    def _log(self, line: str) -> None:
        self.log.append(line)
        self.logged += 1

    def new_lines(self, seen: int) -> list[str]:
        """The log lines after the first `seen` ever logged (as many as are still kept)."""
        count = min(self.logged - seen, len(self.log))
        return list(self.log)[-count:] if count > 0 else []

    def __post_init__(self) -> None:
        for name in self.stages:
            self.status.setdefault(name, "pending")

    def apply(self, event: dict[str, Any]) -> None:
        stage, kind = str(event.get("stage", "?")), event.get("kind")
        if stage not in self.status and stage in ORDER:
            self.stages.append(stage)
            self.status[stage] = "pending"
        if kind == "stage_start":
            self.status[stage] = "running"
            self.current = stage
            self.progress.pop(stage, None)
            self._log(f"── {stage} ──")
        elif kind == "stage_end":
            status = event.get("status", "done")
            self.status[stage] = "done" if status == "done" else "failed"
            self._log(f"── {stage}: {status} in {float(event.get('seconds', 0) or 0):.1f}s ──")
        elif kind == "log":
            message = str(event.get("message", ""))
            if "skipped" in message and self.status.get(stage) == "pending":
                self.status[stage] = "skipped"
            self._log(f"[{stage}] {message}")
        elif kind == "error":
            message = str(event.get("message", ""))
            self.errors.append(f"[{stage}] {message}")
            self.status[stage] = "failed"
            self._log(f"[{stage}] error: {message}")
        elif kind == "metric":
            loss = event.get("loss")
            if isinstance(loss, int | float):
                self.losses.setdefault(stage, []).append(float(loss))
        elif kind == "progress":
            self._progress(stage, event)

    def _progress(self, stage: str, event: dict[str, Any]) -> None:
        t = float(event.get("t", 0) or 0)
        step = event.get("step", 0) or 0
        p = self.progress.get(stage)
        if p is None:
            p = self.progress[stage] = Progress(first_t=t, first_step=step)
        p.step, p.total, p.unit, p.last_t = step, event.get("total") or 0, str(event.get("unit", "")), t
        eta = event.get("eta_s")
        p.eta_s = float(eta) if isinstance(eta, int | float) else None
        p.message = str(event.get("message", ""))
        if self.status.get(stage) == "pending":
            self.status[stage] = "running"
            self.current = stage

    def read(self, events_file: Path) -> int:
        """Apply the events appended since the last read; return how many there were."""
        from engine.events import read_events

        events, self.offset = read_events(events_file, self.offset)
        for event in events:
            self.apply(event)
        return len(events)

    def loss_stage(self) -> str | None:
        """The stage whose loss curve to draw: the running one if it reports loss, else the latest that did."""
        if self.current in self.losses:
            return self.current
        for name in reversed(self.stages):
            if name in self.losses:
                return name
        return None

    def finished(self) -> bool:
        return bool(self.stages) and all(self.status.get(s) in ("done", "skipped") for s in self.stages)

    def failed(self) -> bool:
        return any(v == "failed" for v in self.status.values())


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
