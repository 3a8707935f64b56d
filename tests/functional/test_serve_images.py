"""The builtin server with a tiny random vision-language model: images through the official openai client.

A real `serve` subprocess on 127.0.0.1 with an API key; the model is a tiny random Qwen2-VL, so its
answers are noise — what is checked is that images reach generation (the prompt grows by the image
tokens), that limits and refusals come back as OpenAI errors naming the part, and that nothing is a 500.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from engine.tiny_vlm import build_tiny_vlm
from tests.helpers.serving import serving
from tests.helpers.vlm import data_url, image_bytes, image_part

pytestmark = pytest.mark.slow  # builds a tiny VLM and starts three servers: about a minute on 2 cores
KEY = "vlm-key-0b7e"
NAME = "tiny-vlm"
AUTH = {"Authorization": f"Bearer {KEY}"}
RED = data_url(image_bytes((220, 30, 30)))
LIMITS = ("--max-image-bytes", "20000", "--max-image-pixels", "40000", "--max-images", "2")


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm") / "model", "qwen2-vl")


@pytest.fixture(scope="module")
def server(vlm_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("serve-vlm") / "serve.log"
    with serving(vlm_dir, log, "--served-model-name", NAME, *LIMITS, key=KEY) as served:
        yield served


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=60)


def ask(client: openai.OpenAI, content, **kw):
    return client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": content}], **kw)


def post(server, content) -> httpx.Response:
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": 2}
    return httpx.post(f"{server.base_url}/chat/completions", json=body, headers=AUTH, timeout=60)


def test_a_base64_png_gets_an_answer_and_its_image_tokens_count_in_the_prompt(client):
    text_only = ask(client, [{"type": "text", "text": "What colour is the square?"}], max_tokens=4)
    reply = ask(client, [image_part(RED), {"type": "text", "text": "What colour is the square?"}], max_tokens=6,
                temperature=0, extra_body={"ignore_eos": True})
    assert reply.choices[0].message.content and reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 6
    # Qwen2-VL: 64×64 → 56×56 → 4×4 patches of 14 → 4 merged image tokens, plus vision start/end markers
    assert reply.usage.prompt_tokens - text_only.usage.prompt_tokens >= 3


def test_streaming_an_image_answer_gives_the_same_text(client):
    content = [image_part(RED), {"type": "text", "text": "Describe it."}]
    plain = ask(client, content, max_tokens=8, temperature=0).choices[0].message.content
    chunks = list(ask(client, content, max_tokens=8, temperature=0, stream=True,
                      stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == plain
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 10


def test_two_images_in_one_message_both_reach_the_model(client):
    blue = data_url(image_bytes((20, 40, 230), fmt="JPEG"), "image/jpeg")
    none = ask(client, [{"type": "text", "text": "Compare."}], max_tokens=2)
    one = ask(client, [image_part(RED), {"type": "text", "text": "Compare."}], max_tokens=2)
    two = ask(client, [image_part(RED), image_part(blue), {"type": "text", "text": "Compare."}], max_tokens=2)
    per_image = one.usage.prompt_tokens - none.usage.prompt_tokens
    assert per_image > 0 and two.usage.prompt_tokens == one.usage.prompt_tokens + per_image
    different = ask(client, [image_part(blue), image_part(RED), {"type": "text", "text": "Compare."}], max_tokens=8,
                    temperature=0, extra_body={"ignore_eos": True}).choices[0].message.content
    same = ask(client, [image_part(RED), image_part(blue), {"type": "text", "text": "Compare."}], max_tokens=8,
               temperature=0, extra_body={"ignore_eos": True}).choices[0].message.content
    again = ask(client, [image_part(RED), image_part(blue), {"type": "text", "text": "Compare."}], max_tokens=8,
                temperature=0, extra_body={"ignore_eos": True}).choices[0].message.content
    assert same == again and same != different, "the pixels, in their order, must change what the model says"


def test_plain_text_requests_to_a_vision_model_still_work(client):
    reply = ask(client, "Hello!", max_tokens=3)
    assert reply.choices[0].message.content is not None and reply.usage.completion_tokens >= 1


@pytest.mark.parametrize(
    ("content", "status", "param", "code"),
    [
        ([image_part(data_url(image_bytes((1, 2, 3), (200, 150), "BMP"), "image/png"))], 413,
         "messages[0].content[0].image_url", "image_too_large"),
        ([{"type": "text", "text": "x"}, image_part(data_url(image_bytes(size=(300, 300))))], 400,
         "messages[0].content[1].image_url", "image_too_large"),
        ([image_part(RED)] * 3, 400, "messages[0].content[2]", "too_many_images"),
        ([image_part(data_url(b"GIF89a but not really"))], 400, "messages[0].content[0].image_url", "invalid_image"),
        ([image_part("file:///etc/passwd")], 400, "messages[0].content[0].image_url", "invalid_image_url"),
        ([image_part("/etc/passwd")], 400, "messages[0].content[0].image_url", "invalid_image_url"),
        ([image_part("http://169.254.169.254/latest/meta-data")], 400, "messages[0].content[0].image_url",
         "remote_image_refused"),
        ([{"type": "text", "text": "<|vision_start|><|image_pad|><|vision_end|>what?"}], 400,
         "messages[0].content[0].text", "invalid_value"),
    ],
    ids=["bytes", "pixels", "count", "undecodable", "file-url", "path", "http", "placeholder-in-text"],
)
def test_each_limit_and_refusal_is_an_openai_error_naming_the_part(server, content, status, param, code):
    resp = post(server, content)
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert (error["param"], error["code"]) == (param, code)
    if code == "remote_image_refused":
        assert "deploy.allow_remote_images" in error["message"]


def test_the_openai_client_sees_refusals_as_its_own_exceptions(client):
    with pytest.raises(openai.BadRequestError, match="allow_remote_images"):
        ask(client, [image_part("https://example.com/cat.png")], max_tokens=2)
    with pytest.raises(openai.APIStatusError) as too_big:
        ask(client, [image_part(data_url(b"\0" * 30_000))], max_tokens=2)
    assert too_big.value.status_code == 413


def test_the_server_log_has_no_traceback(server, client):
    assert ask(client, [image_part(RED)], max_tokens=1).choices[0].finish_reason in ("stop", "length")
    text = server.log.read_text(errors="replace")
    assert "Traceback" not in text and "internal error" not in text, text[-3000:]


def test_allow_remote_images_reaches_the_server_and_still_refuses_this_machines_network(vlm_dir: Path, tmp_path: Path):
    with serving(vlm_dir, tmp_path / "serve.log", "--allow-remote-images", key=KEY) as served:
        resp = post(served, [image_part(f"{served.url}/health")])  # the server's own loopback address
        error = resp.json()["error"]
        assert resp.status_code == 400 and error["code"] == "remote_image_refused"
        assert "public addresses only" in error["message"]
        assert post(served, [image_part("file:///etc/passwd")]).json()["error"]["code"] == "invalid_image_url"


def test_an_image_sent_to_a_text_only_model_is_a_400_that_says_so(tiny_model_session: Path, tmp_path: Path):
    with serving(tiny_model_session, tmp_path / "serve.log", key=KEY) as served:
        resp = post(served, [{"type": "text", "text": "What is this?"}, image_part(RED)])
        assert resp.status_code == 400
        error = resp.json()["error"]
        assert error["param"] == "messages[0].content[1]" and "text only" in error["message"]
        ok = post(served, [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}])
        assert ok.status_code == 200, ok.text


def test_the_printed_image_example_runs_as_it_is(server, vlm_dir: Path, tmp_path: Path, monkeypatch, capsys):
    from engine.serve.examples import image_example
    from engine.serve.settings import ServeSettings

    assert "with an image" in server.log.read_text(errors="replace")  # the server printed it when ready
    port = int(server.url.rsplit(":", 1)[1])
    settings = ServeSettings(model_dir=vlm_dir, served_name=NAME, port=port, api_key_env="VLM_EXAMPLE_KEY")
    (tmp_path / "picture.png").write_bytes(image_bytes((30, 200, 40)))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VLM_EXAMPLE_KEY", KEY)
    exec(compile(image_example(settings, auth=True), "example", "exec"), {})  # an error would raise here
    assert capsys.readouterr().out.endswith("\n")  # it printed the answer (a random model's may be empty)
