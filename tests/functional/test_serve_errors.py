"""Every wrong request gets the status a client expects and an OpenAI error object — never a 500."""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import openai
import pytest

from tests.helpers.serving import serving

KEY = "err-key-77aa"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


@pytest.fixture(scope="module")
def server(tiny_model_session: Path, tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("serve-errors") / "serve.log"
    with serving(tiny_model_session, log, "--served-model-name", "tiny", "--max-body-bytes", "65536", key=KEY) as s:
        yield s


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.base_url, timeout=30) as c:
        yield c


def assert_openai_error(resp: httpx.Response, status: int, param: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    if param is not None:
        assert body["error"]["param"] == param
    return body["error"]


def test_a_missing_or_wrong_key_is_401_for_the_openai_client(server):
    for key in ("wrong", ""):
        client = openai.OpenAI(base_url=server.base_url, api_key=key or "x", max_retries=0,
                               default_headers={} if key else {"Authorization": ""})
        with pytest.raises(openai.AuthenticationError):
            client.models.list()


def test_a_missing_key_is_401_and_health_stays_open(http):
    assert_openai_error(http.post("/chat/completions", json=CHAT), 401)
    assert_openai_error(http.get("/models", headers={"Authorization": "Basic abc"}), 401)
    assert httpx.get(str(http.base_url).removesuffix("/v1/") + "/health").status_code == 200


def test_malformed_json_is_400(http):
    err = assert_openai_error(http.post("/chat/completions", content=b'{"messages": [', headers=AUTH), 400)
    assert err["type"] == "invalid_request_error"


def test_an_unknown_argument_is_400_naming_it(server):
    client = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}],
                                       extra_body={"frobnicate": 1})
    assert "frobnicate" in str(exc.value)


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({**CHAT, "temperature": 5}, 422, "temperature"),
        ({**CHAT, "max_tokens": "8"}, 422, "max_tokens"),
        ({**CHAT, "max_tokens": 0}, 422, "max_tokens"),
        ({**CHAT, "top_p": 0}, 422, "top_p"),
        ({**CHAT, "n": 2}, 422, "n"),
        ({**CHAT, "stop": ["a", "b", "c", "d", "e"]}, 422, "stop"),
        ({**CHAT, "seed": 2**70}, 422, "seed"),
        ({"messages": []}, 422, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, 422, None),
        ({"max_tokens": 3}, 400, "messages"),
        ({**CHAT, "max_tokens": 100000}, 400, "max_tokens"),
        ({**CHAT, "tools": [{"type": "function"}]}, 400, "tools"),
        ({**CHAT, "model": "gpt-4"}, 404, "model"),
    ],
)
def test_bad_parameters_are_rejected_by_name(http, body: dict, status: int, param: str | None):
    assert_openai_error(http.post("/chat/completions", json=body, headers=AUTH), status, param)


def test_the_openai_client_sees_422_as_unprocessable(server):
    client = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    with pytest.raises(openai.UnprocessableEntityError):
        client.completions.create(model="tiny", prompt="x", temperature=-1)


def test_an_oversize_body_is_413(http):
    big = {"messages": [{"role": "user", "content": "x" * 100_000}]}
    assert_openai_error(http.post("/chat/completions", json=big, headers=AUTH), 413)

    def chunks():
        for _ in range(20):
            yield b" " * 8192  # no Content-Length: the server counts as it reads

    assert_openai_error(http.post("/completions", content=chunks(), headers=AUTH), 413)


def test_unknown_urls_and_methods_are_openai_errors(http):
    assert_openai_error(http.get("/nothing", headers=AUTH), 404)
    assert_openai_error(http.get("/chat/completions", headers=AUTH), 405)


def _junk(rng: random.Random) -> bytes:
    choices = [
        lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))),
        lambda: json.dumps(rng.choice([None, 1, "s", [], [1, 2], True, 1.5])).encode(),
        lambda: ("[" * 5000 + "]" * 5000).encode(),
        lambda: b'{"prompt": "x", "max_tokens": NaN}',
        lambda: b'{"prompt": "x", "temperature": 1e999}',
        lambda: json.dumps({"prompt": rng.choice([None, 1, [], [1, 2], {"a": 1}, ["a", "b"]])}).encode(),
        lambda: json.dumps({"messages": rng.choice([None, "hi", [1], [{"role": "user"}], [{"content": "x"}],
                                                    [{"role": "user", "content": [{"type": "image"}]}]])}).encode(),
        lambda: json.dumps({"prompt": "x", "stop": rng.choice([1, [""], [None], {"a": 1}])}).encode(),
        lambda: json.dumps({"prompt": "x", "stream": "yes", "seed": "1"}).encode(),
        lambda: "{\"prompt\": \"\ud800\"}".encode("utf-8", "surrogatepass"),
    ]
    return rng.choice(choices)()


def test_fuzzed_bodies_get_4xx_never_500(http):
    rng = random.Random(1234)
    for _ in range(30):
        body = _junk(rng)
        for path in ("/chat/completions", "/completions"):
            resp = http.post(path, content=body, headers={**AUTH, "Content-Type": "application/json"})
            assert 400 <= resp.status_code < 500, (body[:120], resp.status_code, resp.text)
            assert "error" in resp.json()


def test_the_server_still_answers_after_all_that(server):
    client = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    assert client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}],
                                          max_tokens=2).choices[0].message.content is not None
    assert "Traceback" not in server.log.read_text(errors="replace")
