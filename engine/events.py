"""events.jsonl: the one progress stream that `engine run`, the TUI and tests all read.

One JSON object a line, appended and flushed per line so a reader can follow it while it grows.
Writers in other processes (e.g. DDP ranks) append to the same file; only rank 0 writes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

KINDS = ("progress", "metric", "log", "stage_start", "stage_end", "error")


class EventLog:
    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled and int(os.environ.get("RANK", "0")) == 0
        if self.enabled:
            path.parent.mkdir(parents=True, exist_ok=True)

    def emit(self, stage: str, kind: str, **fields: Any) -> dict[str, Any]:
        if kind not in KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        event = {"t": round(time.time(), 3), "stage": stage, "kind": kind, **fields}
        if self.enabled:
            line = json.dumps(event, ensure_ascii=False, default=str) + "\n"
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
        return event


def read_events(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Events from byte `offset` on, and the offset after the last complete line (a half line waits)."""
    if not path.exists():
        return [], offset
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read()
    events: list[dict[str, Any]] = []
    end = data.rfind(b"\n") + 1
    for raw in data[:end].splitlines():
        try:
            events.append(json.loads(raw))
        except json.JSONDecodeError:
            continue  # a line torn by a kill: skip it, keep reading
    return events, offset + end


def follow(path: Path, offset: int = 0, interval: float = 0.2) -> Iterator[dict[str, Any]]:
    """Yield events forever as they are appended (callers stop iterating when they are done)."""
    while True:
        events, offset = read_events(path, offset)
        yield from events
        if not events:
            time.sleep(interval)
