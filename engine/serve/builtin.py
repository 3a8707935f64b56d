"""Run the builtin server in this process until SIGTERM / Ctrl-C.

Order matters: bind the port first (a taken port fails in a second, not after the model loaded),
then load the model, then accept connections — so /health answering means the model is ready.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from .examples import ready_text
from .settings import ServeSettings, api_key, bind_socket


def serve_builtin(settings: ServeSettings, port_field: str = "--port") -> None:
    import uvicorn

    from .app import Server, create_app
    from .generation import LoadedModel

    # The event loop and the generation thread share the GIL; a short switch interval lets the loop send
    # a token as soon as it exists instead of up to 5 ms later (the default), at no cost to throughput.
    sys.setswitchinterval(0.0005)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sock = bind_socket(settings.host, settings.port, port_field)
    started = time.monotonic()
    print(f"loading {settings.model_dir} ...", flush=True)
    model = LoadedModel.load(settings.model_dir, settings.trust_remote_code)
    print(
        f"loaded in {time.monotonic() - started:.1f}s on {model.device}; context {model.context} tokens; "
        f"stop tokens {sorted(model.eos)}",
        flush=True,
    )
    if model.processor is not None:
        remote = "data: and public http(s) URLs" if settings.allow_remote_images else "data: URLs only"
        print(f"vision model: up to {settings.max_images} images a request ({remote}), each at most "
              f"{settings.max_image_bytes} bytes and {settings.max_image_pixels} pixels", flush=True)
    server = Server(model, settings, api_key(settings))
    app = create_app(server)
    config = uvicorn.Config(
        app, log_level="info", timeout_graceful_shutdown=5, server_header=False, proxy_headers=False
    )
    uv = _uvicorn_server(config, server)
    print(ready_text(settings, auth=api_key(settings) is not None), flush=True)
    try:
        uv.run(sockets=[sock])
    finally:
        server.queue.close()
        sys.stdout.flush()


def _uvicorn_server(config: Any, server: Any) -> Any:
    """uvicorn.Server whose shutdown also stops the generation in progress (else it would run on)."""
    import uvicorn

    from .protocol import ApiError

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            server.queue.close(ApiError(503, "The server is shutting down; retry in a moment.", type_="server_error",
                                        code="shutting_down", headers={"Retry-After": "5"}))
            super().handle_exit(sig, frame)

    return _Server(config)
