"""The builtin server as a client meets it: the official openai client against a real subprocess."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import openai
import pytest

from tests.helpers.serving import serving

KEY = "test-key-5f1c0d2e"
NAME = "tiny-served"


@pytest.fixture(scope="module")
def server(tiny_model_session: Path, tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with serving(tiny_model_session, log, "--served-model-name", NAME, "--max-queue", "64", key=KEY) as served:
        yield served


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=60)


def chat(client: openai.OpenAI, content: str, **kw):
    return client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": content}], **kw)


def test_models_lists_the_served_name(client):
    models = client.models.list()
    assert [m.id for m in models.data] == [NAME]
    assert client.models.retrieve(NAME).id == NAME


def test_chat_answers_with_usage_and_respects_max_tokens(client):
    reply = chat(client, "Say the color red.", max_tokens=7, temperature=0, extra_body={"ignore_eos": True})
    choice = reply.choices[0]
    assert reply.object == "chat.completion" and reply.model == NAME
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason == "length"
    assert reply.usage.completion_tokens == 7
    assert reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 7


def test_streamed_chat_gives_the_same_text_as_the_plain_answer_and_ends_with_done(client, server):
    plain = chat(client, "Who are you?", max_tokens=12, temperature=0).choices[0].message.content
    chunks = list(chat(client, "Who are you?", max_tokens=12, temperature=0, stream=True,
                       stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens >= 1
    with httpx.stream("POST", f"{server.base_url}/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                      json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "stream": True}) as r:
        lines = [line for line in r.iter_lines() if line]
    assert r.headers["content-type"].startswith("text/event-stream")
    assert lines[-1] == "data: [DONE]"


def test_completions_plain_and_streamed(client):
    plain = client.completions.create(model=NAME, prompt="The capital of France is", max_tokens=6, temperature=0)
    assert plain.object == "text_completion" and plain.usage.completion_tokens <= 6
    streamed = client.completions.create(model=NAME, prompt="The capital of France is", max_tokens=6,
                                         temperature=0, stream=True)
    assert "".join(c.choices[0].text for c in streamed) == plain.choices[0].text


def test_a_stop_sequence_cuts_the_text_where_it_first_appears(client):
    full = client.completions.create(model=NAME, prompt="Numbers: 1 2 3", max_tokens=24, temperature=0,
                                     extra_body={"ignore_eos": True}).choices[0].text
    start = next(i for i in range(3, len(full) - 3) if full.find(full[i:i + 3]) == i and full[i:i + 3].strip())
    stop = full[start:start + 3]
    cut = client.completions.create(model=NAME, prompt="Numbers: 1 2 3", max_tokens=24, temperature=0,
                                    stop=[stop], extra_body={"ignore_eos": True})
    assert cut.choices[0].text == full[:start]
    assert cut.choices[0].finish_reason == "stop"
    streamed = client.completions.create(model=NAME, prompt="Numbers: 1 2 3", max_tokens=24, temperature=0,
                                         stop=stop, stream=True, extra_body={"ignore_eos": True})
    assert "".join(c.choices[0].text for c in streamed) == full[:start]


def test_the_same_seed_gives_the_same_sample(client):
    one = chat(client, "Tell me a story.", max_tokens=10, temperature=1.0, seed=7).choices[0].message.content
    two = chat(client, "Tell me a story.", max_tokens=10, temperature=1.0, seed=7).choices[0].message.content
    assert one == two


def test_thirty_two_requests_from_eight_clients_each_get_their_own_answer(server):
    """Deterministic, distinct completions: any lost, duplicated or swapped answer shows as a mismatch."""
    def ask(c: openai.OpenAI, i: int) -> str:
        if i % 2:
            return c.completions.create(model=NAME, prompt=f"Numbers: {i} {i + 1}", max_tokens=8, temperature=0,
                                        extra_body={"ignore_eos": True}).choices[0].text
        return c.completions.create(model=NAME, prompt="Tell me a story.", max_tokens=8, temperature=1.0,
                                    seed=i, extra_body={"ignore_eos": True}).choices[0].text

    solo = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=60)
    expected = {i: ask(solo, i) for i in range(32)}
    assert len(set(expected.values())) >= 30, "the prompts must give distinct answers for this test to mean anything"
    got: dict[int, str] = {}
    errors: list[BaseException] = []
    served_before = server.health()["served"]

    def worker(k: int) -> None:
        c = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=120)
        try:
            for i in range(k, 32, 8):
                got[i] = ask(c, i)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors
    assert got == expected
    assert server.health()["served"] - served_before == 32
