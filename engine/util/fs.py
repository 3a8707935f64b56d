"""Atomic writes: an output either exists whole or not at all, even across SIGKILL or a full disk.

This is what lets "outputs exist and the spec hash matches" mean "done" (luigi's temporary_path).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import UserError

TMP_MARK = ".tmp-"


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise disk_error(exc, path) from None


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def disk_error(exc: OSError, path: Path) -> Exception:
    """A full disk or a read-only folder is the operator's to fix: say so in one line."""
    if exc.errno == errno.ENOSPC:
        free = shutil.disk_usage(path.parent if path.parent.exists() else Path.cwd()).free
        return UserError(f"{path}: disk full ({free / 1e9:.1f} GB free); free space or move jobs/ to a larger disk")
    if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        return UserError(f"{path}: cannot write here ({exc.strerror}); check the folder's permissions")
    return exc


@contextlib.contextmanager
def temporary_dir(final: Path) -> Iterator[Path]:
    """Yield a sibling temp folder; on success it replaces `final` in one rename, on failure it is removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{final.name}{TMP_MARK}{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, final)


def replace_dir(tmp: Path, final: Path) -> None:
    """Put a finished folder in place of `final` by renames only, so there is never a half of either."""
    if final.exists():
        old = final.with_name(f"{final.name}{TMP_MARK}old-{os.getpid()}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete temp files/folders left behind by a killed process; return what was removed."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if TMP_MARK in entry.name:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()
            removed.append(entry)
    return removed


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
