"""Checksums against the hub's own metadata, and a record of folders that passed them.

Hugging Face's client checks sizes only, so every file is hashed here: sha256 against the
listing's LFS sha256 (ModelScope's Sha256), or git's blob sha1 for small non-LFS files. A folder
that passed is recorded in $YCDY_CACHE/verified/, with each file's size and mtime, so the next job
that uses the same model reuses it at once (and offline) instead of hashing gigabytes again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ...util.fs import write_json_atomic
from ..builtin import cache_root
from .common import Listing, RemoteFile

STAMP_FORMAT = 1


def hashes(path: Path, want_git: bool) -> tuple[str, str | None]:
    sha = hashlib.sha256()
    git = hashlib.sha1(b"blob %d\0" % path.stat().st_size) if want_git else None
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            sha.update(block)
            if git is not None:
                git.update(block)
    return sha.hexdigest(), git.hexdigest() if git is not None else None


def check(folder: Path, files: list[RemoteFile]) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """sha256 of every file, and (path, what is wrong) for each file missing or not matching the hub."""
    checksums: dict[str, str] = {}
    bad: list[tuple[str, str]] = []
    for f in files:
        path = folder / f.path
        if not path.is_file():
            bad.append((f.path, f"{f.path}: missing after download"))
            continue
        sha, git = hashes(path, want_git=f.sha256 is None and f.git_sha1 is not None)
        checksums[f.path] = sha
        if f.sha256 and sha != f.sha256.lower():
            bad.append((f.path, f"{f.path}: sha256 {sha[:12]}… but the hub lists {f.sha256[:12]}…"))
        elif git and f.git_sha1 and git != f.git_sha1.lower():
            bad.append((f.path, f"{f.path}: git hash {git[:12]}… but the hub lists {f.git_sha1[:12]}…"))
    return checksums, bad


def _stamp_path(hub: str, model_id: str, revision: str) -> Path:
    safe = model_id.replace("/", "--")
    rev = revision.replace("/", "--") or "default"
    return cache_root() / "verified" / hub / f"{safe}@{rev}.json"


def _fingerprint(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def record(listing: Listing, folder: Path, files: list[RemoteFile], checksums: dict[str, str]) -> None:
    data = {
        "format": STAMP_FORMAT, "hub": listing.hub, "model_id": listing.model_id, "revision": listing.revision,
        "commit": listing.commit, "path": str(folder),
        "files": {f.path: {"sha256": checksums[f.path], "hub_sha256": f.sha256, "git_sha1": f.git_sha1,
                           "fingerprint": _fingerprint(folder / f.path)} for f in files},
    }
    write_json_atomic(_stamp_path(listing.hub, listing.model_id, listing.revision), data)


def reusable(hub: str, model_id: str, revision: str, listing: Listing | None = None) -> dict[str, Any] | None:
    """The verified record when its folder is untouched since (and, given a listing, still current)."""
    path = _stamp_path(hub, model_id, revision)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("format") != STAMP_FORMAT:
        return None
    folder = Path(data.get("path", ""))
    for rel, meta in data.get("files", {}).items():
        p = folder / rel
        try:
            if _fingerprint(p) != meta.get("fingerprint"):
                return None
        except OSError:
            return None
    if listing is not None:
        if data.get("commit") != listing.commit:
            return None
        remote = listing.by_path()
        for rel, meta in data["files"].items():
            f = remote.get(rel)
            if f is None or (f.sha256 and f.sha256.lower() != meta["sha256"]):
                return None
    return data


def forget(hub: str, model_id: str, revision: str) -> None:
    try:
        os.unlink(_stamp_path(hub, model_id, revision))
    except OSError:
        pass
