"""The builtin OpenAI-compatible API: routes, the API key, body limits and error objects.

Every answer that is not a success is an OpenAI error object with the status a client expects:
400 malformed JSON / unknown argument / too long a prompt, 401 key, 404 model or URL, 413 body,
422 bad value, 503 queue full (with Retry-After). A 500 means a bug here: it is logged with its
traceback and still answered in the same shape.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from .generation import LoadedModel, Outcome
from .images import ImageLimits, gather, refuse_images
from .protocol import ApiError, ChatRequest, CompletionRequest, Message, error_body, parse_request
from .queue import GenerationQueue, QueueFull, Ticket
from .responses import Reply, model_card, sse
from .settings import ServeSettings

log = logging.getLogger("ycdy.serve")
STOPPED = ApiError(503, "Generation was stopped: the server is shutting down.", type_="server_error",
                   code="shutting_down", headers={"Retry-After": "5"})
DRAIN_LIMIT = 64 * 1024 * 1024  # read (and drop) an oversize body up to this, so the client sees its 413


class Server:
    """What the routes share: the model, the waiting line, the key (held in memory only)."""

    def __init__(self, model: LoadedModel, settings: ServeSettings, key: str | None) -> None:
        self.model = model
        self.settings = settings
        self._key = key.encode() if key else None
        self.queue = GenerationQueue(settings.max_queue)
        self.vision = model.processor is not None
        self.body_limit = settings.body_limit(self.vision)
        self.image_limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels, settings.max_images,
                                        settings.allow_remote_images)
        self.started = int(time.time())

    def check_key(self, request: Request) -> None:
        if self._key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if not token:
            raise ApiError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
                           code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self._key):
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key",
                           headers={"WWW-Authenticate": "Bearer"})

    async def read_body(self, request: Request) -> bytes:
        limit = self.body_limit
        drain = max(DRAIN_LIMIT, limit)
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit()):
            raise ApiError(400, "Invalid Content-Length header.")
        too_big = ApiError(413, f"Request body too large; the limit is {limit} bytes.", code="request_too_large")
        if declared is not None and int(declared) > drain:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > drain:
                    raise too_big
                if size <= limit:
                    chunks.append(chunk)
        except ClientDisconnect:  # the client left mid-body: nobody to answer, and no bug of ours to log
            raise ApiError(400, "The client closed the connection before the body was complete.") from None
        if size > limit:
            raise too_big
        return b"".join(chunks)

    def check_model(self, name: str | None) -> None:
        if name is not None and name != self.settings.served_name:
            raise ApiError(404, f"The model `{name}` does not exist. This server serves `{self.settings.served_name}`.",
                           param="model", code="model_not_found")

    async def chat_prompt(self, messages: list[Message]) -> tuple[list[int], dict[str, Any] | None]:
        """Prompt ids (and a VLM's image inputs). Images are decoded off the event loop, so streams keep flowing."""
        if not self.vision:
            refuse_images(messages, self.settings.served_name)
            plain = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in messages]
            return self.model.chat_prompt(plain), None

        def prepare() -> tuple[list[int], dict[str, Any]]:
            template_messages, images = gather(messages, self.image_limits)
            return self.model.vision_prompt(template_messages, images)

        return await asyncio.to_thread(prepare)

    def submit(self, prompt: list[int], params: Any, extra: dict[str, Any] | None = None) -> Ticket:
        model = self.model

        def work(ticket: Ticket) -> Outcome:
            batch = _Batcher(lambda text: ticket.send("text", text))
            try:
                return model.generate(prompt, params, batch.add, ticket.cancelled, extra)
            finally:
                batch.flush()

        try:
            return self.queue.submit(work)
        except QueueFull as full:
            raise ApiError(
                503, "The server is busy: too many requests are waiting. Retry after the time in Retry-After.",
                type_="server_error", code="queue_full", headers={"Retry-After": str(full.retry_after)},
            ) from None

    async def answer(self, ticket: Ticket, reply: Reply, stream: bool, include_usage: bool) -> Any:
        if stream:
            return StreamingResponse(
                self._stream(ticket, reply, include_usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        try:
            async for kind, value in ticket.events():
                if kind == "done" and value.finish_reason == "cancelled":
                    raise STOPPED
                if kind == "done":
                    return JSONResponse(reply.full(value))
                if kind == "error":
                    raise value
        finally:
            self.queue.cancel(ticket)
        raise RuntimeError("generation ended without a result")

    async def _stream(self, ticket: Ticket, reply: Reply, include_usage: bool) -> AsyncIterator[str]:
        try:
            if reply.chat:
                yield sse(reply.chunk(first=True))  # the role first, as OpenAI does
            async for kind, value in ticket.events():
                if kind == "text":
                    yield sse(reply.chunk(value))
                elif kind == "done" and value.finish_reason == "cancelled":
                    yield sse(STOPPED.body())  # only a shutdown cancels a request whose client is still there
                elif kind == "done":
                    yield sse(reply.chunk(finish_reason=value.finish_reason))
                    if include_usage:
                        yield sse(reply.usage_chunk(value))
                elif isinstance(value, ApiError):
                    yield sse(value.body())
                else:
                    log.error("generation failed", exc_info=value)
                    yield sse(error_body("generation failed; the server log has details", "server_error"))
            yield sse("[DONE]")
        finally:
            self.queue.cancel(ticket)  # the client left mid-stream: stop at the next token


class _Batcher:
    """Text from the generation thread to the event loop: the first piece at once, then at most every 10 ms.

    A slow model (tens of ms a token) still streams token by token; a fast one stops paying a thread
    wake-up, a GIL hand-off and an SSE chunk per token, which cost more than the token on a small model.
    """

    INTERVAL = 0.01

    def __init__(self, send: Any) -> None:
        self.send = send
        self.pending: list[str] = []
        self.last = 0.0

    def add(self, text: str) -> None:
        self.pending.append(text)
        now = time.monotonic()
        if now - self.last >= self.INTERVAL:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        if self.pending:
            self.send("".join(self.pending))
            self.pending.clear()
        self.last = now if now is not None else time.monotonic()


def create_app(server: Server) -> FastAPI:
    app = FastAPI(title="yichuidingyin", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = server
    name = server.settings.served_name

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"Unknown request URL: {request.method} {request.url.path}."
            return JSONResponse(error_body(message, "invalid_request_error", code="unknown_url"), status_code=404)
        message = str(exc.detail) if exc.detail else "HTTP error"
        return JSONResponse(error_body(message, "invalid_request_error"), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(f"Invalid request: {exc.errors()[:1]}", "invalid_request_error"), status_code=422)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error answering %s %s", request.method, request.url.path)
        return JSONResponse(error_body("Internal server error; the server log has details.", "server_error"),
                            status_code=500)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": name, "pid": os.getpid(), **server.queue.stats()}

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        server.check_key(request)
        return {"object": "list", "data": [model_card(name, server.started)]}

    @app.get("/v1/models/{model_id:path}")
    async def one_model(model_id: str, request: Request) -> dict[str, Any]:
        server.check_key(request)
        server.check_model(model_id)
        return model_card(name, server.started)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        server.check_key(request)
        req = parse_request(ChatRequest, await server.read_body(request))
        server.check_model(req.model)
        prompt, extra = await server.chat_prompt(req.messages)
        params = server.model.resolve(req, len(prompt), chat=True)
        ticket = server.submit(prompt, params, extra)
        return await server.answer(ticket, Reply(name, chat=True), req.stream, req.include_usage())

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        server.check_key(request)
        req = parse_request(CompletionRequest, await server.read_body(request))
        server.check_model(req.model)
        prompt = server.model.text_prompt(req.text())
        params = server.model.resolve(req, len(prompt), chat=False)
        ticket = server.submit(prompt, params)
        return await server.answer(ticket, Reply(name, chat=False), req.stream, req.include_usage())

    return app
