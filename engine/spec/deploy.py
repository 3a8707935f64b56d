"""Serving the result as an OpenAI-compatible API (engine/serve/; the deploy stage and `serve`)."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator

from .base import Section


class DeploySpec(Section):
    backend: Literal["auto", "builtin", "vllm"] = Field(
        "auto", description="auto (vLLM when installed, else the builtin server), builtin or vllm."
    )
    host: str = Field(
        "127.0.0.1", description="Address to listen on; 127.0.0.1 keeps it on this machine. 0.0.0.0 needs an API key."
    )
    port: int = Field(8000, ge=1, le=65535, description="Port to listen on, 1–65535.")
    api_key_env: str = Field(
        "YCDY_API_KEY",
        description="Name of the environment variable that holds the API key (the key itself never goes in this file).",
    )
    served_model_name: str | None = Field(
        None, description="Model name clients ask for; empty = the job name.", max_length=200
    )
    max_queue: int = Field(16, ge=1, le=10_000, description="Requests that may wait; more get 503 with Retry-After.")
    insecure: bool = Field(
        False,
        description="Serve on a non-loopback host without an API key. Anyone who reaches the port can use the model.",
    )
    start_timeout: int = Field(
        600, ge=5, le=7200, description="Seconds to wait for the server to load the model and answer /health."
    )
    allow_remote_images: bool = Field(
        False,
        description="Vision models: also fetch http(s) image URLs that clients name (public addresses only, 10 s "
        "timeout, size-capped). Off: images come inline as data: URLs. Files and paths are never read.",
    )
    max_image_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024,
        description="Vision models: largest image one request may carry, in bytes (after base64 decoding); more is a 413.",
    )
    max_image_pixels: int = Field(
        4096 * 4096, ge=64, le=200_000_000,
        description="Vision models: largest image in pixels (width × height), checked before decoding; more is a 400.",
    )
    max_images: int = Field(
        4, ge=1, le=64,
        description="Vision models: images one request may carry; more is a 400. vLLM gets the same limit.",
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if value == "localhost":
            return value
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError("must be an IP address such as 127.0.0.1 or 0.0.0.0, or localhost") from None
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", value):
            raise ValueError("must be an environment variable name such as YCDY_API_KEY")
        return value

    @field_validator("served_model_name")
    @classmethod
    def _served(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:/-]*", value):
            raise ValueError("use letters, digits and . _ : / - only")
        return value
