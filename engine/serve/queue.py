"""A fair, bounded waiting line in front of the one thread that runs the model.

One generation at a time (a model on a CPU or one GPU gains little from more, and transformers'
generate is not meant to be called from two threads at once); requests wait in arrival order, so
no client starves another; beyond max_waiting the answer is 503 with Retry-After instead of an
unbounded pile-up. A client that goes away is dropped from the line, or its generation stops at
the next token.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any


class QueueFull(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"queue full; retry after {retry_after}s")
        self.retry_after = retry_after


class Ticket:
    """One request's place in line, and the channel its worker-thread output comes back through."""

    def __init__(self, work: Callable[[Ticket], Any], loop: asyncio.AbstractEventLoop) -> None:
        self.work = work
        self.loop = loop
        self.cancelled = threading.Event()
        self._events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def send(self, kind: str, value: Any) -> None:
        """Called from the worker thread: hand (kind, value) to the request's event loop."""
        try:
            self.loop.call_soon_threadsafe(self._events.put_nowait, (kind, value))
        except RuntimeError:  # the loop is closed: the server is shutting down
            self.cancelled.set()

    async def events(self) -> AsyncIterator[tuple[str, Any]]:
        """("text", str)... then ("done", result) or ("error", exception)."""
        held: tuple[str, Any] | None = None
        while True:
            kind, value = held or await self._events.get()
            held = None
            if kind == "text":  # the sender fell behind: what piled up goes as one chunk, not one per token
                while held is None and not self._events.empty():
                    nxt = self._events.get_nowait()
                    if nxt[0] == "text":
                        value += nxt[1]
                    else:
                        held = nxt
            yield kind, value
            if kind in ("done", "error"):
                return


class GenerationQueue:
    def __init__(self, max_waiting: int) -> None:
        self.max_waiting = max_waiting
        self._waiting: deque[Ticket] = deque()
        self._cond = threading.Condition()
        self._running: Ticket | None = None
        self._closed = False
        self._seconds = 1.0  # moving average of one request's time, for Retry-After
        self.served = 0
        self.cancelled = 0  # requests dropped from the line, or stopped mid-generation, because the client left
        self._thread = threading.Thread(target=self._work, name="generation", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[Ticket], Any]) -> Ticket:
        """Queue work(ticket) for the worker thread; QueueFull when max_waiting are already waiting."""
        ticket = Ticket(work, asyncio.get_running_loop())
        with self._cond:
            in_system = len(self._waiting) + (self._running is not None)  # one may run, max_waiting may wait
            if self._closed or in_system >= self.max_waiting + 1:
                raise QueueFull(self.retry_after())
            self._waiting.append(ticket)
            self._cond.notify()
        return ticket

    def cancel(self, ticket: Ticket) -> None:
        """The client is gone: leave the line, or stop generating at the next token."""
        with self._cond:
            if ticket in self._waiting:
                self._waiting.remove(ticket)
                self.cancelled += 1
                ticket.cancelled.set()
            elif ticket is self._running:
                ticket.cancelled.set()

    def retry_after(self) -> int:
        ahead = len(self._waiting) + (1 if self._running else 0)
        return int(min(120, max(1, math.ceil(self._seconds * ahead))))

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {"running": int(self._running is not None), "waiting": len(self._waiting),
                    "served": self.served, "cancelled": self.cancelled}

    def close(self, reason: BaseException | None = None) -> None:
        """Shutting down: the running request stops at its next token; waiting ones get `reason` as their error."""
        with self._cond:
            self._closed = True
            waiting = list(self._waiting)
            self._waiting.clear()
            if self._running is not None:
                self._running.cancelled.set()
            self._cond.notify_all()
        for ticket in waiting:
            ticket.cancelled.set()
            ticket.send("error", reason or RuntimeError("the server is shutting down"))

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                ticket = self._waiting.popleft()
                self._running = ticket
            started = time.monotonic()
            result: Any = None
            try:
                result = ticket.work(ticket)
                outcome: tuple[str, Any] = ("done", result)
            except BaseException as exc:  # handed to the request, which turns it into an answer
                outcome = ("error", exc)
            with self._cond:  # the books first, so a client that has its answer sees them updated
                self._running = None
                self.served += 1
                if getattr(result, "finish_reason", None) == "cancelled":
                    self.cancelled += 1
                self._seconds = 0.7 * self._seconds + 0.3 * (time.monotonic() - started)
            ticket.send(*outcome)
