"""Hugging Face through huggingface_hub (snapshot_download into its normal cache).

huggingface_hub reads HF_ENDPOINT when it is imported; the endpoint is also passed on every call
here, so a mirror (HF_ENDPOINT=https://hf-mirror.com) works however the process was started.
The client checks sizes only: the download stage hashes every file against the listing and calls
refetch() for one that does not match. Cache: HF_HUB_CACHE, or HF_HOME/hub (default
~/.cache/huggingface/hub); token: HF_TOKEN (or `hf auth login`).
"""

from __future__ import annotations

import os
from pathlib import Path

from .common import HubProblem, Listing, RemoteFile, first_line

HUB = "huggingface"
DEFAULT_ENDPOINT = "https://huggingface.co"
ENV_ENDPOINT, ENV_CACHE, ENV_TOKEN = "HF_ENDPOINT", "HF_HOME", "HF_TOKEN"


def endpoint() -> str:
    return (os.environ.get(ENV_ENDPOINT) or DEFAULT_ENDPOINT).rstrip("/")


def info_url(model_id: str) -> str:
    """The API address that answers whether a model exists (what the wizard checks as you type)."""
    return f"{endpoint()}/api/models/{model_id}"


def cache_root() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    return Path(home).expanduser() / "hub"


def expected_folder(model_id: str, commit: str) -> Path:
    return cache_root() / f"models--{model_id.replace('/', '--')}" / "snapshots" / commit


def _problem(exc: BaseException, model_id: str, revision: str | None) -> HubProblem:
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    said = _hub_message(exc)
    if isinstance(exc, GatedRepoError):
        return HubProblem(
            f"model.id: {model_id} is gated on Hugging Face: {said}",
            f"request access on https://huggingface.co/{model_id}, then log in: set {ENV_TOKEN} to a read token "
            "from https://huggingface.co/settings/tokens (or run `hf auth login`); or use model.hub: modelscope",
            kind="gated",
        )
    if isinstance(exc, RevisionNotFoundError):
        return HubProblem(f"model.revision: {revision!r} is not a branch, tag or commit of {model_id} ({said})")
    if isinstance(exc, RepositoryNotFoundError):
        return HubProblem(
            f"model.id: Hugging Face has no model {model_id!r} ({said})",
            f"check the ID (org/name, as on https://huggingface.co/{model_id}); a private model needs "
            f"{ENV_TOKEN} set to a token that can read it",
            kind="missing",
        )
    if isinstance(exc, OfflineModeIsEnabled):
        return HubProblem(
            f"download: HF_HUB_OFFLINE is set, so {model_id} cannot be downloaded and is not in the cache",
            "unset HF_HUB_OFFLINE, or download the model once on a connected machine",
            kind="network",
        )
    if isinstance(exc, HfHubHTTPError):
        return HubProblem(f"download: Hugging Face failed for {model_id}: {said}")
    return HubProblem(
        f"download: cannot reach Hugging Face at {endpoint()}: {first_line(exc)}",
        f"check the network, or set {ENV_ENDPOINT} to a mirror (e.g. https://hf-mirror.com), or use "
        "model.hub: modelscope",
        kind="network",
    )


def _hub_message(exc: BaseException) -> str:
    """The hub's own words (X-Error-Message / the last line huggingface_hub adds), not its boilerplate."""
    response = getattr(exc, "response", None)
    if response is not None:
        message = response.headers.get("X-Error-Message")
        if message:
            return message
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _quiet() -> None:
    """The stage reports progress as events; the client's own bars would only garble the log."""
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()


def listing(model_id: str, revision: str | None) -> Listing:
    import httpx
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
    from huggingface_hub.hf_api import RepoFile

    _quiet()
    try:
        api = HfApi(endpoint=endpoint())
        info = api.model_info(model_id, revision=revision)
        commit = info.sha or ""
        entries = api.list_repo_tree(model_id, recursive=True, revision=commit or revision)
        files = [
            RemoteFile(path=e.path, size=int(e.size or 0), sha256=(e.lfs.sha256 if e.lfs else None),
                       git_sha1=None if e.lfs else e.blob_id)
            for e in entries if isinstance(e, RepoFile)
        ]
    except (HfHubHTTPError, OfflineModeIsEnabled, httpx.HTTPError, OSError) as exc:
        raise _problem(exc, model_id, revision) from None
    return Listing(hub=HUB, model_id=model_id, revision=revision or "main", commit=commit, files=files)


def fetch(lst: Listing, paths: list[str]) -> Path:
    import httpx
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        folder = snapshot_download(lst.model_id, revision=lst.commit, allow_patterns=paths,
                                   endpoint=endpoint(), max_workers=4)
    except (HfHubHTTPError, OfflineModeIsEnabled, httpx.HTTPError, OSError) as exc:
        problem = _problem(exc, lst.model_id, lst.revision)
        problem.lines.append("run the same command again; files that finished are kept in the cache")
        raise problem from None
    return Path(folder)


def refetch(lst: Listing, folder: Path, path: str) -> None:
    import httpx
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError

    try:
        hf_hub_download(lst.model_id, path, revision=lst.commit, endpoint=endpoint(), force_download=True)
    except (HfHubHTTPError, httpx.HTTPError, OSError) as exc:
        raise _problem(exc, lst.model_id, lst.revision) from None
