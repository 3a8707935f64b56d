"""ModelScope through its own client (modelscope 1.40, which delegates to modelscope-hub).

The client resumes a `.incomplete` file with an HTTP Range request, retries a cut connection in
the same process, and checks each file's sha256 against the listing, fetching it again when it
does not match. Endpoint: MODELSCOPE_ENDPOINT (default https://modelscope.cn); cache:
MODELSCOPE_CACHE (default ~/.cache/modelscope); token: MODELSCOPE_API_TOKEN.
"""

from __future__ import annotations

import os
from pathlib import Path

from .common import HubProblem, Listing, RemoteFile, first_line

HUB = "modelscope"
DEFAULT_ENDPOINT = "https://modelscope.cn"
ENV_ENDPOINT, ENV_CACHE, ENV_TOKEN = "MODELSCOPE_ENDPOINT", "MODELSCOPE_CACHE", "MODELSCOPE_API_TOKEN"


def endpoint() -> str:
    return (os.environ.get(ENV_ENDPOINT) or DEFAULT_ENDPOINT).rstrip("/")


def info_url(model_id: str) -> str:
    """The API address that answers whether a model exists (what the wizard checks as you type)."""
    return f"{endpoint()}/api/v1/models/{model_id}"


def cache_root() -> Path:
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "modelscope").expanduser()


def expected_folder(model_id: str, revision: str) -> Path:
    """Where the client puts a snapshot (modelscope-hub's layout), for the disk check before it runs."""
    return cache_root() / "models" / model_id.replace("/", "--") / "snapshots" / revision


def _token() -> str | None:
    return os.environ.get(ENV_TOKEN) or None


def _problem(exc: BaseException, model_id: str) -> HubProblem:
    from modelscope_hub.errors import AuthenticationError, NetworkError, NotExistError, PermissionDeniedError

    said = first_line(exc)
    if isinstance(exc, NotExistError):
        return HubProblem(
            f"model.id: ModelScope has no model {model_id!r} ({said})",
            "check the ID on https://modelscope.cn/models (org/name; many Hugging Face models live under "
            "another org there, e.g. LLM-Research/), or use model.hub: huggingface",
            kind="missing",
        )
    if isinstance(exc, AuthenticationError | PermissionDeniedError):
        return HubProblem(
            f"model.id: ModelScope refused access to {model_id}: {said}",
            f"log in: set {ENV_TOKEN} to an access token from https://modelscope.cn/my/myaccesstoken, and "
            "request access on the model's page if it asks for it",
            kind="gated",
        )
    if isinstance(exc, NetworkError | OSError):
        return HubProblem(
            f"download: cannot reach ModelScope at {endpoint()}: {said}",
            f"check the network, or set {ENV_ENDPOINT} to a reachable endpoint or mirror",
            kind="network",
        )
    return HubProblem(f"download: ModelScope failed for {model_id}: {said}")


def listing(model_id: str, revision: str | None) -> Listing:
    from modelscope_hub.api import HubApi
    from modelscope_hub.errors import HubError

    rev = revision or "master"
    try:
        api = HubApi(endpoint=endpoint(), token=_token())
        entries = api.list_repo_files(model_id, "model", revision=rev, recursive=True)
    except (HubError, OSError) as exc:
        raise _problem(exc, model_id) from None
    files = [
        RemoteFile(path=e.path, size=int(e.size or 0), sha256=(e.sha256 or None))
        for e in entries if (e.type or "blob") != "tree" and e.path
    ]
    return Listing(hub=HUB, model_id=model_id, revision=rev, commit=rev, files=files)


def fetch(lst: Listing, paths: list[str]) -> Path:
    from modelscope.hub.snapshot_download import snapshot_download

    try:
        folder = snapshot_download(lst.model_id, revision=lst.revision, allow_patterns=paths,
                                   endpoint=endpoint(), token=_token(), max_workers=4)
    except Exception as exc:  # the client wraps its typed errors (requests.HTTPError, FileDownloadError)
        raise _fetch_problem(exc, lst) from None
    return Path(folder)


def _fetch_problem(exc: BaseException, lst: Listing) -> HubProblem:
    cause = exc.__cause__ or exc
    failed = getattr(exc, "failed_files", None) or {}
    if failed:
        first = next(iter(failed.items()))
        return HubProblem(
            f"download: {len(failed)} file(s) of {lst.model_id} did not arrive from ModelScope ({first[0]}: "
            f"{first_line(first[1])})",
            "run the same command again: finished files are kept and a partial file resumes where it stopped",
        )
    problem = _problem(cause, lst.model_id)
    problem.lines.append("run the same command again to resume; finished files are kept")
    return problem


def refetch(lst: Listing, folder: Path, path: str) -> None:
    """Remove a bad copy and fetch that one file again (the client checks it against the listing)."""
    (folder / path).unlink(missing_ok=True)
    fetch(lst, [path])
