"""One download, either hub: list → pick files → reuse a verified copy, or check disk → fetch → verify.

Order matters for the operator: everything that can refuse (missing or gated model, no weights,
too little disk) does so after one small listing request and before the first byte of weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import UserError
from . import files as picks
from . import module, verify
from .common import HubProblem, Listing
from .progress import Watcher


@dataclass
class Fetched:
    folder: Path
    checksums: dict[str, str]
    model_id: str  # the ID on the hub
    revision: str
    commit: str
    reused: bool
    downloaded_bytes: int


def _from_stamp(stamp: dict[str, Any], reused: bool = True) -> Fetched:
    return Fetched(Path(stamp["path"]), {p: m["sha256"] for p, m in stamp["files"].items()}, stamp["model_id"],
                   stamp["revision"], stamp["commit"], reused, 0)


def download(hub: str, model_id: str, revision: str | None, emit: Callable[..., Any],
             log: Callable[..., Any]) -> Fetched:
    client = module(hub)
    default_rev = "master" if hub == "modelscope" else "main"
    try:
        lst = client.listing(model_id, revision)
    except HubProblem as problem:
        stamp = verify.reusable(hub, model_id, revision or default_rev)
        if problem.kind == "network" and stamp is not None:
            log(f"{hub} is not reachable ({problem.lines[0]}); using the copy verified earlier at {stamp['path']}",
                level="warning")
            return _from_stamp(stamp)
        raise
    wanted = picks.select(lst.files)
    _check_contents(lst, wanted)
    stamp = verify.reusable(hub, model_id, lst.revision, lst)
    if stamp is not None and {f.path for f in wanted} <= set(stamp["files"]):
        log(f"{model_id}: already downloaded and verified at {stamp['path']}; nothing to fetch")
        return _from_stamp(stamp)

    total = sum(f.size for f in wanted)
    guess = client.expected_folder(model_id, lst.commit)
    present = picks.present_bytes(guess, wanted)
    picks.preflight(total - present, client.cache_root(), model_id, client.ENV_CACHE)
    skipped = len(lst.files) - len(wanted)
    log(f"downloading {model_id} from {hub} ({client.endpoint()}): {len(wanted)} files, "
        f"{picks.gb(total - present)} to fetch into {client.cache_root()}"
        + (f" ({skipped} files not needed are skipped)" if skipped else ""))
    with Watcher(guess.parent.parent, total, present, emit, f"download {model_id}"):
        folder = client.fetch(lst, [f.path for f in wanted])

    checksums, bad = verify.check(folder, wanted)
    if bad:
        log("checksum mismatch, fetching again: " + "; ".join(line for _p, line in bad), level="warning")
        for path, _line in bad:
            client.refetch(lst, folder, path)
        checksums, bad = verify.check(folder, wanted)
        if bad:
            raise UserError(
                f"download: files of {model_id} from {hub} still do not match the hub's checksums after a second try:",
                *[line for _p, line in bad],
                f"the hub, a mirror or a proxy serves damaged data; try again later, or set {client.ENV_ENDPOINT} "
                "to another endpoint",
            )
    verify.record(lst, folder, wanted, checksums)
    log(f"{model_id}: {len(wanted)} files verified against the hub's checksums")
    return Fetched(folder, checksums, model_id, lst.revision, lst.commit, False, total - present)


def _check_contents(lst: Listing, wanted: list[picks.RemoteFile]) -> None:
    names = {f.path for f in wanted}
    problems = []
    if "config.json" not in names:
        problems.append(f"model.id: {lst.model_id} on {lst.hub} has no config.json; is it a transformers model?")
    if not picks.has_weights(wanted):
        formats = sorted({f.path.rsplit(".", 1)[-1] for f in lst.files if "." in f.path})
        problems.append(
            f"model.id: {lst.model_id} on {lst.hub} has no safetensors or PyTorch weights (it has: "
            f"{', '.join(formats) or 'no files'}); pick the model's transformers release"
        )
    if problems:
        raise UserError(*problems)
