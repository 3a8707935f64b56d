"""The loopback fake hub, serving file bodies at a chosen rate so a test can kill a download mid-file.

Only large writes (file bodies) are slowed; listings and headers go out at once. The rate is read on
every chunk, so a test may slow the hub for one run and set `rate_bps = None` for the next.
"""

from __future__ import annotations

import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from tests.fakehub import FakeHub
from tests.fakehub.server import _Handler, hub_env  # noqa: F401  (re-exported for the reliability tests)

CHUNK = 8192


class _SlowWriter:
    """Wraps a handler's wfile: big writes go out CHUNK bytes at a time, paced to hub.rate_bps."""

    def __init__(self, raw: Any, hub: ThrottledHub) -> None:
        self.raw, self.hub = raw, hub

    def write(self, data: bytes) -> int:
        if not self.hub.rate_bps or len(data) <= CHUNK:
            return self.raw.write(data)
        view = memoryview(data)
        for start in range(0, len(view), CHUNK):
            self.raw.write(view[start : start + CHUNK])
            self.raw.flush()
            rate = self.hub.rate_bps
            if rate:
                time.sleep(CHUNK / rate)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class ThrottledHub(FakeHub):
    def __init__(self, rate_bps: float | None = None) -> None:
        super().__init__()
        self.rate_bps = rate_bps

    def start(self) -> ThrottledHub:
        hub = self

        class Handler(_Handler):
            fake = hub

            def setup(self) -> None:
                super().setup()
                self.wfile = _SlowWriter(self.wfile, hub)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="throttled-hub", daemon=True).start()
        return self
