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

from types import ModuleType

from .common import HubProblem, Listing, RemoteFile, first_line

__all__ = ["HubProblem", "Listing", "RemoteFile", "first_line", "module"]


def module(hub: str) -> ModuleType:
    if hub == "modelscope":
        from . import modelscope

        return modelscope
    if hub == "huggingface":
        from . import huggingface

        return huggingface
    raise ValueError(f"no download client for hub {hub!r}")
