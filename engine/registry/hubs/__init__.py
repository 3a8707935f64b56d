"""Downloads from ModelScope and Hugging Face through their own clients, with the checks around them.

Each hub module exposes the same four calls, so the download stage has one flow for both:
    endpoint() -> str                      where it talks to (env var, or the hub's default)
    cache_root() -> Path                   where its client keeps files (env var, or default)
    listing(model_id, revision) -> Listing the files with sizes and hashes, and the commit
    fetch(listing, paths) -> Path          download those files, return the model folder
    refetch(listing, path) -> None         download one file again, replacing a bad copy
and raises HubProblem (a UserError) with the hub's own message and what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType

from ...errors import UserError


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    sha256: str | None = None  # LFS / ModelScope checksum
    git_sha1: str | None = None  # Hugging Face's id for a small (non-LFS) file


@dataclass
class Listing:
    hub: str
    model_id: str  # the ID on this hub
    revision: str  # what the job asked for (branch, tag) or the hub's default
    commit: str  # what that resolved to; the cache folder is keyed by it
    files: list[RemoteFile] = field(default_factory=list)

    def by_path(self) -> dict[str, RemoteFile]:
        return {f.path: f for f in self.files}


class HubProblem(UserError):
    """A hub said no (missing, gated, unreachable): its message plus what the operator can do."""

    def __init__(self, *lines: str, kind: str = "other") -> None:
        super().__init__(*lines)
        self.kind = kind  # missing | gated | network | other


def module(hub: str) -> ModuleType:
    if hub == "modelscope":
        from . import modelscope

        return modelscope
    if hub == "huggingface":
        from . import huggingface

        return huggingface
    raise ValueError(f"no download client for hub {hub!r}")


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The part of a client's exception worth showing an operator: its first meaningful line."""
    for line in str(exc).splitlines():
        line = line.strip()
        if line and not line.startswith(("Traceback", "File ", "Request:", "Response:")):
            return line[:limit]
    return type(exc).__name__
