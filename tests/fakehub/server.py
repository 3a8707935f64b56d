"""A loopback hub that speaks enough of the Hugging Face and ModelScope protocols for the real clients.

Hugging Face (huggingface_hub): GET /api/models/{id}/revision/{rev} (info with `sha`),
GET /api/models/{id}/tree/{rev} (listing with lfs sha256), HEAD/GET /{id}/resolve/{rev}/{path}
(ETag, X-Repo-Commit, Range). ModelScope (modelscope / modelscope-hub):
GET /api/v1/models/{id}/repo/files (listing with Sha256), GET /api/v1/models/{id}/repo?FilePath=
(the file, with Range), GET /api/v1/models/{id} (info). Everything else is logged and answered 404.
Binds 127.0.0.1 on a free port; every request is recorded so tests can assert what the client did.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .repo import FakeFile, FakeRepo, Faults

HF_INFO = re.compile(r"^/api/models/(?P<id>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?$")
HF_TREE = re.compile(r"^/api/models/(?P<id>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$")
HF_FILE = re.compile(r"^/(?P<id>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
MS_FILES = re.compile(r"^/api/v1/models/(?P<id>[^/]+/[^/]+)/repo/files$")
MS_FILE = re.compile(r"^/api/v1/models/(?P<id>[^/]+/[^/]+)/repo$")
MS_INFO = re.compile(r"^/api/v1/models/(?P<id>[^/]+/[^/]+)$")
RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class FakeHub:
    """Start with .start(); .url is the endpoint for both HF_ENDPOINT and MODELSCOPE_ENDPOINT."""

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.faults = Faults()
        self.log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- control -------------------------------------------------------------------------------
    def add(self, repo: FakeRepo) -> FakeRepo:
        self.repos[repo.repo_id] = repo
        return repo

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            fake = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fakehub", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def record(self, entry: dict[str, Any]) -> None:
        with self._log_lock:
            self.log.append(entry)

    def requests(self, method: str | None = None, file: str | None = None) -> list[dict[str, Any]]:
        """Recorded requests, optionally only those fetching one file's body."""
        with self._log_lock:
            entries = list(self.log)
        return [
            e for e in entries
            if (method is None or e["method"] == method) and (file is None or e.get("file") == file)
        ]

    def reset_log(self) -> None:
        with self._log_lock:
            self.log.clear()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    server_version = "fakehub/1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_HEAD(self) -> None:
        self._dispatch(body=False)

    def do_GET(self) -> None:
        self._dispatch(body=True)

    # --- routing -------------------------------------------------------------------------------
    def _dispatch(self, body: bool) -> None:
        parts = urlsplit(self.path)
        path, query = unquote(parts.path), parse_qs(parts.query)
        entry: dict[str, Any] = {"method": self.command, "path": path, "query": parts.query,
                                 "range": self.headers.get("Range"), "status": None}
        try:
            status = self._route(path, query, body, entry)
        except (BrokenPipeError, ConnectionResetError):
            status = -1
        entry["status"] = status
        self.fake.record(entry)

    def _route(self, path: str, query: dict[str, list[str]], body: bool, entry: dict[str, Any]) -> int:
        if m := HF_INFO.match(path):
            return self._hf_info(m["id"], m["rev"] or "main")
        if m := HF_TREE.match(path):
            return self._hf_tree(m["id"], m["rev"], m["path"] or "")
        if m := HF_FILE.match(path):
            entry["file"] = m["path"]
            return self._hf_file(m["id"], m["rev"], m["path"], body)
        if m := MS_FILES.match(path):
            return self._ms_files(m["id"])
        if m := MS_FILE.match(path):
            file_path = (query.get("FilePath") or [""])[0]
            entry["file"] = file_path
            return self._ms_file(m["id"], file_path, body)
        if m := MS_INFO.match(path):
            return self._ms_info(m["id"])
        return self._json(404, {"Code": 404, "Message": f"no route {path}", "Success": False})

    # --- Hugging Face --------------------------------------------------------------------------
    def _hf_repo(self, repo_id: str) -> tuple[FakeRepo | None, int | None]:
        repo = self.fake.repos.get(repo_id)
        if repo is None:
            return None, self._hf_error(404, "RepoNotFound", "Repository not found.")
        if repo.gated and not self._authorized(repo):
            if self._token() is None:
                return None, self._hf_error(
                    401, "GatedRepo",
                    f"Access to model {repo_id} is restricted. You must have access to it and be authenticated "
                    "to access it. Please log in.",
                )
            return None, self._hf_error(
                403, "GatedRepo",
                f"Access to model {repo_id} is restricted and you are not in the authorized list. "
                f"Visit https://huggingface.co/{repo_id} to ask for access.",
            )
        return repo, None

    def _hf_info(self, repo_id: str, rev: str) -> int:
        repo, status = self._hf_repo(repo_id)
        if repo is None:
            return status  # type: ignore[return-value]
        return self._json(200, {
            "_id": repo.commit[:24], "id": repo_id, "modelId": repo_id, "sha": repo.commit, "private": False,
            "gated": "manual" if repo.gated else False, "disabled": False, "tags": [], "downloads": 0,
            "siblings": [{"rfilename": p} for p in sorted(repo.files)], "lastModified": "2024-01-01T00:00:00.000Z",
        })

    def _hf_tree(self, repo_id: str, rev: str, sub: str) -> int:
        repo, status = self._hf_repo(repo_id)
        if repo is None:
            return status  # type: ignore[return-value]
        entries: list[dict[str, Any]] = []
        dirs: set[str] = set()
        for p, f in sorted(repo.files.items()):
            if sub and not p.startswith(sub.rstrip("/") + "/"):
                continue
            parent = p.rsplit("/", 1)[0] if "/" in p else ""
            while parent and parent not in dirs:
                dirs.add(parent)
                entries.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": parent})
                parent = parent.rsplit("/", 1)[0] if "/" in parent else ""
            item: dict[str, Any] = {"type": "file", "oid": _git_oid(f), "size": f.size, "path": p}
            if f.lfs:
                item["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
            entries.append(item)
        return self._json(200, entries)

    def _hf_file(self, repo_id: str, rev: str, path: str, body: bool) -> int:
        repo, status = self._hf_repo(repo_id)
        if repo is None:
            return status  # type: ignore[return-value]
        f = repo.files.get(path)
        if f is None:
            return self._hf_error(404, "EntryNotFound", f"{path} does not exist on \"{rev}\"")
        headers = {"ETag": f'"{f.etag}"', "X-Repo-Commit": repo.commit}
        return self._send_file(repo, f, body, headers)

    def _hf_error(self, status: int, code: str, message: str) -> int:
        return self._json(status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message})

    # --- ModelScope ----------------------------------------------------------------------------
    def _ms_repo(self, repo_id: str) -> tuple[FakeRepo | None, int | None]:
        repo = self.fake.repos.get(repo_id)
        if repo is None:
            return None, self._json(404, {"Code": 10010205001, "Message": "模型不存在", "Success": False})
        if repo.gated and not self._authorized(repo):
            status = 401 if self._token() is None else 403
            return None, self._json(status, {
                "Code": status, "Success": False,
                "Message": f"Access to {repo_id} requires approval: apply for access on its model page and log in",
            })
        return repo, None

    def _ms_info(self, repo_id: str) -> int:
        repo, status = self._ms_repo(repo_id)
        if repo is None:
            return status  # type: ignore[return-value]
        return self._json(200, {"Code": 200, "Success": True, "Data": {
            "Id": 1, "Name": repo_id.split("/")[1], "Path": repo_id.split("/")[0], "ModelType": ["nlp"],
        }})

    def _ms_files(self, repo_id: str) -> int:
        repo, status = self._ms_repo(repo_id)
        if repo is None:
            return status  # type: ignore[return-value]
        files = [
            {"Name": p.rsplit("/", 1)[-1], "Path": p, "Type": "blob", "Size": f.size, "Sha256": f.sha256,
             "Revision": repo.commit, "CommittedDate": 1700000000, "IsLFS": f.lfs}
            for p, f in sorted(repo.files.items())
        ]
        return self._json(200, {"Code": 200, "Success": True, "Data": {"Files": files}})

    def _ms_file(self, repo_id: str, path: str, body: bool) -> int:
        repo, status = self._ms_repo(repo_id)
        if repo is None:
            return status  # type: ignore[return-value]
        f = repo.files.get(path)
        if f is None:
            return self._json(404, {"Code": 404, "Message": f"file {path} not found", "Success": False})
        return self._send_file(repo, f, body, {})

    # --- shared --------------------------------------------------------------------------------
    def _token(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("bearer ") and auth[7:].strip():
            return auth[7:].strip()
        cookie = self.headers.get("Cookie") or ""
        m = re.search(r"m_session_id=([^;]+)", cookie)
        return m.group(1) if m else None

    def _authorized(self, repo: FakeRepo) -> bool:
        return self._token() in repo.accepted_tokens

    def _send_file(self, repo: FakeRepo, f: FakeFile, body: bool, headers: dict[str, str]) -> int:
        data = f.data
        start, end, status = 0, len(data) - 1, 200
        if rng := self.headers.get("Range"):
            m = RANGE.match(rng.strip())
            if not m or int(m[1]) >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return 416
            start = int(m[1])
            end = min(int(m[2]), len(data) - 1) if m[2] else len(data) - 1
            status = 206
        fault = self.fake.faults.take(repo.repo_id, f.path) if body else None
        if fault is not None and fault.kind == "status":
            return self._json(fault.status, {"Code": fault.status, "Message": "injected failure", "Success": False})
        chunk = data[start : end + 1]
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(chunk)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        if not body:
            return status
        if fault is not None and fault.kind == "cut":
            self.wfile.write(chunk[: int(len(chunk) * fault.after)])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return -status  # negative: the body was cut
        if fault is not None and fault.kind == "corrupt":
            chunk = bytes(b ^ 0xFF for b in chunk[:64]) + chunk[64:]
        self.wfile.write(chunk)
        return status

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> int:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)
        return status


def _git_oid(f: FakeFile) -> str:
    from .repo import git_blob_sha1

    return git_blob_sha1(f.data) if not f.lfs else git_blob_sha1(f"version https://git-lfs\noid sha256:{f.sha256}\n".encode())


def hub_env(hub: FakeHub, root: Path) -> dict[str, str]:
    """The environment that points both hub clients at `hub`, with caches under `root` (as the hub fixtures do)."""
    return {
        "HF_ENDPOINT": hub.url,
        "MODELSCOPE_ENDPOINT": hub.url,
        "HF_HOME": str(root / "hf-home"),
        "MODELSCOPE_CACHE": str(root / "ms-cache"),
        "YCDY_CACHE": str(root / "ycdy-cache"),
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_TOKEN": "",
        "MODELSCOPE_API_TOKEN": "",
        "MODELSCOPE_DOWNLOAD_RETRY_MAX_DELAY_SECONDS": "1",
    }
