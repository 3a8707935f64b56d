"""How many processes, on how many machines, and how the model is split across them."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from .base import Section

Strategy = Literal["auto", "none", "ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3"]


class ParallelSpec(Section):
    strategy: Strategy = Field(
        "auto",
        description="auto (one process for one device; DDP over several, or FSDP when the estimate says one GPU "
        "cannot hold a copy), none, ddp, fsdp (shards the model), deepspeed-zero2, deepspeed-zero3. Several "
        "processes run under torchrun.",
    )
    num_processes: int | Literal["auto"] = Field(
        "auto",
        description="Processes per machine; auto = one per GPU (1 on a CPU-only machine, where 2 or more "
        "means DDP over gloo).",
    )
    nnodes: int = Field(1, ge=1, le=4096, description="Machines taking part.")
    node_rank: int = Field(0, ge=0, description="This machine's index, 0 to nnodes-1.")
    master_addr: str = Field("127.0.0.1", description="Address of machine 0 (multi-node only; one machine rendezvouses on loopback).",
    )
    master_port: int = Field(29500, ge=1, le=65535, description="Port on machine 0 for the rendezvous.")

    @field_validator("num_processes")
    @classmethod
    def _positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= 1024:
            raise ValueError("must be auto or a whole number from 1 to 1024")
        return value

    @field_validator("master_addr")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            label = all(part and all(c.isalnum() or c == "-" for c in part) for part in value.split("."))
            if not label or len(value) > 253:
                raise ValueError("must be an IP address or a host name") from None
        return value
