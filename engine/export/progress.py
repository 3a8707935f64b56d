"""Events while llm-compressor works: per-layer progress, a heartbeat, and no stray bars or log lines.

llm-compressor reports through tqdm bars and loguru lines on stdout. A job's progress belongs in
events.jsonl (the CLI and the TUI read it), so for the duration of the export its bars are hidden
and their titles become events: "(3/31): Calibrating" is layer 3 of 31. A heartbeat repeats the
latest title every few seconds, so even a long AWQ grid search is never a silent minute.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

LAYER = re.compile(r"^\((\d+)/(\d+)\): (Calibrating|Propagating)")
HEARTBEAT_S = 10.0
# Warnings that are normal here and would only alarm an operator: the stage already says it runs on
# CPU, and GQA models always have AWQ mappings (v_proj → o_proj) whose shapes cannot be smoothed.
EXPECTED = ("No accelerator available", "Disabling tokenizer parallelism", "mappings were skipped due to incompatible")


class Watch:
    """What the library is doing now, shared between its thread and the heartbeat."""

    def __init__(self, emit: Callable[..., None], heartbeat_s: float) -> None:
        self.emit = emit
        self.heartbeat_s = heartbeat_s
        self.activity = "preparing"
        self.started = time.monotonic()
        self.layers_done = 0
        self._lock = threading.Lock()
        self._seen_warnings: set[str] = set()

    def now(self, activity: str) -> None:
        with self._lock:
            self.activity = activity

    def saw_bar(self, desc: str) -> None:
        with self._lock:
            self.activity = desc
        match = LAYER.match(desc)
        if match:
            index, total, what = int(match[1]), int(match[2]), match[3]
            done = index if what == "Propagating" else index - 1
            if done != self.layers_done or index == 1:
                self.layers_done = done
                self.emit("progress", step=done, total=total, unit="layer", message=desc)

    def saw_log(self, level: str, message: str) -> None:
        if any(known in message for known in EXPECTED):
            return
        if level in ("WARNING", "ERROR", "CRITICAL") and message not in self._seen_warnings:
            self._seen_warnings.add(message)
            self.emit("log", message=f"llm-compressor: {message}", level="warning")

    def beat(self) -> None:
        with self._lock:
            activity = self.activity
        elapsed = time.monotonic() - self.started
        self.emit("log", message=f"export still running ({elapsed:.0f} s): {activity}", level="info")


@contextlib.contextmanager
def watched(
    emit: Callable[..., None], heartbeat_s: float = HEARTBEAT_S, libraries: tuple[str, ...] = ()
) -> Iterator[Watch]:
    """Route llm-compressor's bars and warnings to `emit(kind, **fields)` until the block ends.

    `libraries` are imported first: llm-compressor replaces loguru's handlers when it is imported,
    which would undo the routing if that happened inside the block.
    """
    import importlib

    import tqdm.std
    from loguru import logger

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.getLogger("torch.fx._symbolic_trace").setLevel(logging.ERROR)  # a tracing notice, not for operators
    quiet_import = {"LLM_COMPRESSOR_LOG_DISABLED": "true"}  # it logs to stdout while it imports
    saved = {k: os.environ.get(k) for k in quiet_import}
    os.environ.update(quiet_import)
    try:
        for name in libraries:
            importlib.import_module(name)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    for name in libraries:
        logger.enable(name)

    watch = Watch(emit, heartbeat_s)
    cls = tqdm.std.tqdm
    raw_init = cls.__dict__["__init__"]

    def quiet_init(self: Any, *args: Any, **kwargs: Any) -> None:
        desc = kwargs.get("desc") if "desc" in kwargs else (args[1] if len(args) > 1 else None)
        if isinstance(desc, str) and desc:
            watch.saw_bar(desc)
        kwargs["disable"] = True
        raw_init.__get__(self, type(self))(*args, **kwargs)

    logger.remove()  # llm-compressor's own handler prints to stdout
    sink = logger.add(lambda m: watch.saw_log(m.record["level"].name, m.record["message"]), level="WARNING")
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(watch.heartbeat_s):
            watch.beat()

    thread = threading.Thread(target=heartbeat, name="export-heartbeat", daemon=True)
    cls.__init__ = quiet_init
    thread.start()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*offloaded modules.*")
            yield watch
    finally:
        stop.set()
        thread.join(timeout=5)
        cls.__init__ = raw_init
        with contextlib.suppress(ValueError):
            logger.remove(sink)
