"""Stopping and queueing on a slower model: eos from generation_config, 503 when the line is full,
and a client that leaves stops its generation."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.helpers.serving import serving


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[int], str]:
    """A wider tiny model (a few ms a token) whose generation_config eos is the token it greedily writes third."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.tiny import build_tiny_model

    path = build_tiny_model(tmp_path_factory.mktemp("slow") / "slow", hidden=256, layers=6)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    for question in ("hello there", "Say the color red.", "Who are you?", "hi"):
        prompt = tok.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                         tokenize=False)
        ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]])
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=8,
                                 do_sample=False)[0, ids.shape[1]:].tolist()
        fresh = [t for i, t in enumerate(out) if i >= 2 and t not in out[:i] and tok.eos_token_id not in out[:i]]
        if fresh:
            break
    else:
        raise AssertionError("no prompt gives a greedy answer with a new token after the second; change the prompts")
    third = fresh[0]
    cfg = json.loads((path / "generation_config.json").read_text())
    cfg["eos_token_id"] = third
    (path / "generation_config.json").write_text(json.dumps(cfg))
    return path, question, out[: out.index(third) + 1], tok.decode(out[: out.index(third)], skip_special_tokens=True)


@pytest.fixture(scope="module")
def server(slow_model, tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("serve-slow") / "serve.log"
    with serving(slow_model[0], log, "--served-model-name", "slow", "--max-queue", "1") as served:
        yield served


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"condition not reached in time: {predicate.__doc__ or ''}")


def test_eos_from_generation_config_ends_the_answer_on_that_token(server, slow_model):
    _, question, tokens, text = slow_model
    client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
    reply = client.chat.completions.create(model="slow", messages=[{"role": "user", "content": question}],
                                           max_tokens=8, temperature=0)
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.completion_tokens == len(tokens)
    assert reply.choices[0].message.content == text


def test_a_full_queue_answers_503_with_retry_after_and_a_client_that_leaves_is_dropped(server):
    url = f"{server.base_url}/completions"
    long_job = {"prompt": "Once upon a time", "max_tokens": 900, "temperature": 0, "ignore_eos": True, "stream": True}
    cancelled_before = server.health()["cancelled"]
    second: dict[str, httpx.Response] = {}
    with httpx.Client(timeout=60) as c, c.stream("POST", url, json=long_job) as first:
        assert first.status_code == 200
        lines = first.iter_lines()  # keep a reference: a dropped iterator closes the connection
        next(line for line in lines if line.startswith("data: "))  # it is generating now
        waiting = threading.Thread(target=lambda: second.update(r=httpx.post(
            url, json={"prompt": "Hello", "max_tokens": 3}, timeout=60)))
        waiting.start()
        wait_for(lambda: server.health()["waiting"] == 1)
        refused = httpx.post(url, json={"prompt": "Hello", "max_tokens": 3}, timeout=30)
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["code"] == "queue_full"
    # The first client hung up mid-stream: its generation stops, and the waiting request runs.
    waiting.join(60)
    assert second["r"].status_code == 200 and second["r"].json()["usage"]["completion_tokens"] <= 3
    wait_for(lambda: server.health()["cancelled"] == cancelled_before + 1)
    assert server.health()["running"] == 0


def test_the_openai_client_gets_a_503_as_an_api_status_error(server):
    url = f"{server.base_url}/completions"
    long_job = {"prompt": "Once upon a time", "max_tokens": 900, "temperature": 0, "ignore_eos": True, "stream": True}
    client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=30)
    second: dict[str, httpx.Response] = {}
    with httpx.Client(timeout=60) as c, c.stream("POST", url, json=long_job) as first:
        lines = first.iter_lines()
        next(line for line in lines if line.startswith("data: "))
        waiting = threading.Thread(target=lambda: second.update(r=httpx.post(
            url, json={"prompt": "Hello", "max_tokens": 2}, timeout=60)))
        waiting.start()
        wait_for(lambda: server.health()["waiting"] == 1)
        with pytest.raises(openai.APIStatusError) as exc:
            client.completions.create(model="slow", prompt="Hi", max_tokens=2)
        assert exc.value.status_code == 503
    waiting.join(60)
    assert second["r"].status_code == 200
