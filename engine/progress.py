"""Show a job's events on the terminal while it runs: rich progress bars on a TTY, plain lines otherwise.

It reads events.jsonl like the TUI does, so what a subprocess (a DDP rank, a server) writes shows too.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

from .events import read_events


def _fmt_metric(event: dict[str, Any]) -> str | None:
    parts = []
    for key in ("loss", "eval_loss", "lr", "grad_norm", "reward_margin", "reward_accuracy", "tokens_per_s"):
        if key in event and isinstance(event[key], int | float):
            value = event[key]
            parts.append(f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}")
    if not parts:
        return None
    return f"[{event['stage']}] step {event.get('step', '?')}: " + ", ".join(parts)


class Follower:
    """Context manager: follows the events file from its current end until the block exits."""

    def __init__(self, path: Path, stream: Any = None, interval: float = 0.2) -> None:
        self.path = path
        self.stream = stream or sys.stdout
        self.interval = interval
        self.offset = path.stat().st_size if path.exists() else 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._last_plain: dict[str, float] = {}

    def __enter__(self) -> Follower:
        if self._tty:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("{task.description:<10}"),
                BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f} {task.fields[unit]}"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._progress.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._drain()
        if self._progress is not None:
            self._progress.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._drain()
            self._stop.wait(self.interval)

    def _drain(self) -> None:
        events, self.offset = read_events(self.path, self.offset)
        for event in events:
            self.show(event)

    def _print(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)

    def show(self, event: dict[str, Any]) -> None:
        stage, kind = event.get("stage", "?"), event.get("kind")
        if kind == "stage_start":
            self._print(f"── {stage} ──")
        elif kind == "stage_end":
            self._print(f"── {stage}: {event.get('status')} in {event.get('seconds', 0):.1f}s ──")
        elif kind == "log":
            level = event.get("level", "info")
            prefix = "" if level == "info" else f"{level}: "
            self._print(f"[{stage}] {prefix}{event.get('message', '')}")
        elif kind == "error":
            self._print(f"[{stage}] error: {event.get('message', '')}")
        elif kind == "metric":
            line = _fmt_metric(event)
            if line:
                self._print(line)
        elif kind == "progress":
            self._show_progress(stage, event)

    def _show_progress(self, stage: str, event: dict[str, Any]) -> None:
        step, total, unit = event.get("step", 0), event.get("total") or 0, event.get("unit", "")
        if self._progress is not None:
            if stage not in self._tasks:
                self._tasks[stage] = self._progress.add_task(stage, total=total or None, unit=unit)
            self._progress.update(self._tasks[stage], completed=step, total=total or None)
            return
        now = time.monotonic()
        if step != total and now - self._last_plain.get(stage, 0.0) < 5.0:
            return
        self._last_plain[stage] = now
        eta = event.get("eta_s")
        eta_text = f", eta {eta:.0f}s" if isinstance(eta, int | float) else ""
        self._print(f"[{stage}] {step}/{total} {unit}{eta_text}")
