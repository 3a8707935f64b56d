"""Download progress as events, measured on disk: bytes, rate and time left, whatever the client.

Both clients write into their cache folder (partial files included), so watching that folder's
size gives one progress figure for either hub without reaching into their progress-bar hooks.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .files import gb


def folder_bytes(folder: Path) -> int:
    """Bytes of regular files under `folder`, not following links (the HF snapshot links to its blobs)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if not os.path.islink(os.path.join(root, name)):
                total += st.st_size
    return total


def describe(done: int, total: int, rate: float) -> str:
    left = (total - done) / rate if rate > 0 else None
    eta = ""
    if left is not None:
        eta = f", about {left / 60:.0f} min left" if left >= 90 else f", about {left:.0f} s left"
    return f"{gb(done)} of {gb(total)}, {rate / 1e6:.1f} MB/s{eta}"


class Watcher:
    """Context manager: emits progress every `interval` seconds while the block downloads."""

    def __init__(self, folder: Path, total: int, already: int, emit: Callable[..., Any],
                 label: str, interval: float = 0.5) -> None:
        self.folder, self.total, self.already, self.emit, self.label = folder, total, already, emit, label
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="download-progress", daemon=True)
        self._start_bytes = 0
        self._started = 0.0

    def __enter__(self) -> Watcher:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._start_bytes = folder_bytes(self.folder)
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if exc[0] is None:
            self.report(final=True)

    def report(self, final: bool = False) -> None:
        grown = max(0, folder_bytes(self.folder) - self._start_bytes)
        done = min(self.total, self.already + grown) if not final else self.total
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = grown / elapsed
        left = (self.total - done) / rate if rate > 0 else None
        self.emit("progress", step=done, total=self.total, unit="B", rate_bps=round(rate),
                  eta_s=round(left) if left is not None else None,
                  message=f"{self.label}: {describe(done, self.total, rate)}")

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.report()
