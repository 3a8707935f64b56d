"""What the fake hub serves: repositories of files, their hashes, and the faults to inject.

A fault is armed per file and fires on the next N GETs of that file's body, so a test can say
"cut the first download of model.safetensors at 40%" and watch the client come back with Range.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path


def git_blob_sha1(data: bytes) -> str:
    """The id Hugging Face shows for a file that is not in LFS (git's blob hash)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# Files that Hugging Face stores in LFS (the tree listing carries lfs.sha256 for them).
LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".msgpack", ".h5", ".model")


@dataclass
class Fault:
    kind: str  # "cut" (close after `after` bytes), "corrupt" (flip bytes), "status" (answer `status`)
    times: int = 1  # how many GETs it affects
    after: float = 0.5  # for cut: fraction of the file sent before closing
    status: int = 500


@dataclass
class FakeFile:
    path: str
    data: bytes
    claimed_size: int | None = None  # what listings announce (to test disk preflight without a big file)

    @property
    def size(self) -> int:
        return len(self.data) if self.claimed_size is None else self.claimed_size

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def lfs(self) -> bool:
        return self.path.endswith(LFS_SUFFIXES)

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else git_blob_sha1(self.data)


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, FakeFile] = field(default_factory=dict)
    gated: bool = False  # 401 without a token, 403 with one (Hugging Face); 401/403 on ModelScope
    accepted_tokens: tuple[str, ...] = ()
    commit: str = ""

    def __post_init__(self) -> None:
        if not self.commit:
            self.commit = hashlib.sha1(self.repo_id.encode()).hexdigest()


class Faults:
    """Thread-safe fault table: (repo_id, path) -> Fault, consumed as GETs arrive."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._table: dict[tuple[str, str], Fault] = {}

    def arm(self, repo_id: str, path: str, fault: Fault) -> None:
        with self._lock:
            self._table[(repo_id, path)] = fault

    def take(self, repo_id: str, path: str) -> Fault | None:
        with self._lock:
            fault = self._table.get((repo_id, path))
            if fault is None:
                return None
            fault.times -= 1
            if fault.times <= 0:
                del self._table[(repo_id, path)]
            return fault

    def clear(self) -> None:
        with self._lock:
            self._table.clear()


def repo_from_folder(repo_id: str, folder: Path, **kwargs) -> FakeRepo:
    """Serve a model folder on disk (e.g. the tiny model) as a hub repository."""
    repo = FakeRepo(repo_id, **kwargs)
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            rel = f.relative_to(folder).as_posix()
            repo.files[rel] = FakeFile(rel, f.read_bytes())
    return repo
