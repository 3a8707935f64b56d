"""A bounded loopback load on the builtin server: 200 requests from 16 clients, streamed and not.

Every request asks for the greedy continuation of its own prompt, so its answer can be checked
against a sequential reference: a response that went to the wrong client, or that mixes two
generations, does not match. A full line is refused with 503 + Retry-After (the client retries a
moment later); clients that hang up mid-stream are dropped; memory is flat afterwards.
"""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.helpers.serving import serving

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(180)]  # ~20 s
KEY = "load-key-8d21"
AUTH = {"Authorization": f"Bearer {KEY}"}
PROMPTS = 40
REQUESTS, CLIENTS, QUEUE = 200, 16, 8  # more clients than the line holds: some 503s are certain
ABANDONED = 12
TOKENS = 8
RSS_SLACK = 40 * 2**20


def body(i: int, stream: bool) -> tuple[str, dict]:
    text = f"Item {i}: the {['red', 'green', 'blue', 'yellow'][i % 4]} fox number {i * 7 % 13} says"
    if i % 2:
        return "/chat/completions", {"messages": [{"role": "user", "content": text}], "max_tokens": TOKENS,
                                     "temperature": 0, "stream": stream}
    return "/completions", {"prompt": text, "max_tokens": TOKENS, "temperature": 0, "stream": stream}


def text_of(path: str, resp: httpx.Response, stream: bool) -> str:
    if not stream:
        choice = resp.json()["choices"][0]
        return choice["message"]["content"] if path == "/chat/completions" else choice["text"]
    lines = [line[6:] for line in resp.text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]", lines[-3:]
    out = []
    for raw in lines[:-1]:
        choice = json.loads(raw)["choices"][0]
        out.append((choice.get("delta", {}).get("content") if path == "/chat/completions" else choice.get("text")) or "")
    return "".join(out)


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class Load:
    """Runs one request to completion, retrying a 503 a moment later; records every refusal."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.refused = 0
        self.bad_refusals: list[str] = []
        self.lock = threading.Lock()
        self.local = threading.local()

    def client(self) -> httpx.Client:
        if not hasattr(self.local, "client"):
            self.local.client = httpx.Client(base_url=self.base_url, headers=AUTH, timeout=60)
        return self.local.client

    def ask(self, i: int, stream: bool) -> str:
        path, payload = body(i, stream)
        for _ in range(400):
            resp = self.client().post(path, json=payload)
            if resp.status_code != 503:
                assert resp.status_code == 200, (resp.status_code, resp.text[:300])
                return text_of(path, resp, stream)
            with self.lock:
                self.refused += 1
                error = resp.json().get("error", {})
                if not resp.headers.get("Retry-After", "").isdigit() or error.get("code") != "queue_full":
                    self.bad_refusals.append(f"{resp.headers} {resp.text[:200]}")
            time.sleep(0.05)  # not Retry-After's whole seconds: the test stays short
        raise AssertionError(f"request {i} was refused 400 times")

    def abandon(self, i: int, _stream: bool = True) -> str:
        """Start a long stream, read its first event, hang up."""
        path, payload = body(i, True)
        payload = {**payload, "max_tokens": 200, "min_tokens": 200}
        with self.client().stream("POST", path, json=payload) as resp:
            if resp.status_code == 200:
                next(resp.iter_lines())
        return ""


@pytest.fixture(scope="module")
def server(tiny_model_session: Path, tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("load") / "serve.log"
    with serving(tiny_model_session, log, "--served-model-name", "tiny", "--max-queue", str(QUEUE), key=KEY) as s:
        yield s


def idle(server) -> dict:
    """The server's health once nothing runs or waits (abandoned streams are counted when they stop)."""
    deadline = time.monotonic() + 10
    while (health := server.health())["running"] or health["waiting"]:
        assert time.monotonic() < deadline, health
        time.sleep(0.05)
    return health


def run_load(load: Load, jobs: list[tuple[int, bool]]) -> dict[tuple[int, bool], list[str]]:
    answers: dict[tuple[int, bool], list[str]] = {}
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [(job, pool.submit(load.abandon if job[0] < 0 else load.ask, abs(job[0]), job[1])) for job in jobs]
        for job, future in futures:
            result = future.result(timeout=120)
            if job[0] >= 0:
                answers.setdefault(job, []).append(result)
    return answers


def test_two_hundred_requests_from_sixteen_clients_each_get_their_own_answer_and_memory_stays_flat(server):
    load = Load(server.base_url)
    reference = {i: load.ask(i, stream=False) for i in range(PROMPTS)}  # one at a time
    assert len(set(reference.values())) >= PROMPTS * 0.6, "prompts too alike to tell answers apart"

    rng = random.Random(7)
    jobs = [(i % PROMPTS, bool(k % 2)) for k, i in enumerate(range(REQUESTS))]
    jobs += [(-(i + 1), True) for i in range(ABANDONED)]
    rng.shuffle(jobs)
    run_load(load, jobs)  # warm-up: allocator pools and caches reach their working size
    cancelled_before = idle(server)["cancelled"]  # the warm-up's hang-ups are not the measured run's
    pid = server.health()["pid"]
    before = rss(pid)
    load.refused = 0

    started = time.monotonic()
    answers = run_load(load, jobs)
    seconds = time.monotonic() - started
    assert sum(len(v) for v in answers.values()) == REQUESTS
    for (i, stream), got in answers.items():
        assert all(text == reference[i] for text in got), (i, stream, got, reference[i])
    assert load.refused > 0, "the line never filled: the 503 path went untested"
    assert not load.bad_refusals, load.bad_refusals[:3]

    health = idle(server)
    assert health["pid"] == pid
    assert health["cancelled"] - cancelled_before >= 1, "no hang-up of the measured run was noticed"
    after = rss(pid)
    print(f"load: {REQUESTS} requests in {seconds:.1f}s, {load.refused} refusals, rss {before >> 20} → {after >> 20} MiB")
    assert after - before < RSS_SLACK, f"RSS grew {(after - before) >> 20} MiB over one load"
    assert "Traceback" not in server.log.read_text(errors="replace")
