"""What both hub clients return and raise: the shared vocabulary of engine.registry.hubs.

Its own module so the hub modules need not import their package (which dispatches to them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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



def first_line(exc: BaseException, limit: int = 300) -> str:
    """The part of a client's exception worth showing an operator: its first meaningful line."""
    for line in str(exc).splitlines():
        line = line.strip()
        if line and not line.startswith(("Traceback", "File ", "Request:", "Response:")):
            return line[:limit]
    return type(exc).__name__
