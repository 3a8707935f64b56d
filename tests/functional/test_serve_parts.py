"""The serving parts that need no server: vLLM's command line, backend choice, security rules,
stop tokens, streaming text, and the fairness of the waiting line."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from pathlib import Path

import pytest

from engine.errors import UserError
from engine.serve.detok import IncrementalText
from engine.serve.generation import stop_token_ids
from engine.serve.queue import GenerationQueue, QueueFull
from engine.serve.settings import ServeSettings, bind_socket, default_served_name, security_problems
from engine.serve.vllm import resolve_backend, vllm_available, vllm_command, vllm_env


def settings(**kw) -> ServeSettings:
    return ServeSettings(model_dir=Path("/models/export"), served_name="hammer", **kw)


def test_the_vllm_command_line_carries_folder_host_port_and_name_but_never_the_key():
    argv = vllm_command(settings(host="0.0.0.0", port=9001, trust_remote_code=True), executable=["vllm"])
    assert argv[:3] == ["vllm", "serve", "/models/export"]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert argv[argv.index("--port") + 1] == "9001"
    assert argv[argv.index("--served-model-name") + 1] == "hammer"
    assert "--trust-remote-code" in argv
    assert not any("key" in a.lower() for a in argv)
    assert "--trust-remote-code" not in vllm_command(settings(), executable=["vllm"])


def test_the_key_reaches_vllm_only_through_its_environment():
    env = vllm_env(settings(api_key_env="MY_KEY"), {"MY_KEY": "s3cret", "PATH": "/bin", "VLLM_API_KEY": "stale"})
    assert env["VLLM_API_KEY"] == "s3cret" and env["PATH"] == "/bin"
    assert "VLLM_API_KEY" not in vllm_env(settings(api_key_env="MY_KEY"), {"VLLM_API_KEY": "stale"})


def test_auto_picks_builtin_without_vllm_and_vllm_when_it_imports(tmp_path: Path, monkeypatch):
    with monkeypatch.context() as blocked:
        blocked.setitem(sys.modules, "vllm", None)  # Python's own "not importable" mark: no vLLM, on any machine
        assert resolve_backend("auto") == "builtin"
        assert resolve_backend("builtin") == "builtin"
        with pytest.raises(UserError, match="deploy.backend: vllm is not installed"):
            resolve_backend("vllm", field="deploy.backend")
    if not vllm_available():  # a stand-in package makes it importable here; a real install already is
        (tmp_path / "vllm").mkdir()
        (tmp_path / "vllm" / "__init__.py").write_text("")
        monkeypatch.syspath_prepend(str(tmp_path))
    assert resolve_backend("auto") == "vllm"
    assert resolve_backend("vllm") == "vllm"
    assert resolve_backend("builtin") == "builtin"


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_hosts_need_no_key(host: str, monkeypatch):
    monkeypatch.delenv("YCDY_API_KEY", raising=False)
    assert security_problems(settings(host=host)) == []


def test_a_public_host_needs_a_key_or_insecure(monkeypatch):
    monkeypatch.delenv("YCDY_API_KEY", raising=False)
    (problem,) = security_problems(settings(host="0.0.0.0"), host_field="deploy.host",
                                   insecure_hint="set deploy.insecure: true")
    assert problem.startswith("deploy.host: 0.0.0.0") and "YCDY_API_KEY" in problem and "deploy.insecure" in problem
    assert security_problems(settings(host="0.0.0.0", insecure=True)) == []
    monkeypatch.setenv("YCDY_API_KEY", "k")
    assert security_problems(settings(host="0.0.0.0")) == []


def test_a_stage_folder_is_served_under_the_job_name():
    assert default_served_name(Path("/jobs/hammer/export")) == "hammer"
    assert default_served_name(Path("/models/Qwen2.5-0.5B")) == "Qwen2.5-0.5B"


@pytest.fixture(scope="module")
def tokenizer(tiny_model_session: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_session)


def test_the_templates_end_of_turn_token_stops_even_when_eos_is_another(tokenizer):
    endoftext = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    ids = stop_token_ids(tokenizer, endoftext, tokenizer.chat_template)
    assert {endoftext, im_end} <= ids
    assert im_end not in stop_token_ids(tokenizer, endoftext, "{{ messages[0]['content'] }}") - {tokenizer.eos_token_id}


def test_streamed_text_never_splits_a_character_and_adds_up(tokenizer):
    text = "你是谁？我叫小锤。 The capital of France is Paris."
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    inc = IncrementalText(tokenizer)
    deltas = [inc.add(i) for i in ids] + [inc.finish()]
    assert "\ufffd" not in "".join(deltas)
    assert "".join(deltas) == tokenizer.decode(ids) == text


def test_a_stop_sequence_spread_over_tokens_is_held_back_then_cut(tokenizer):
    text = "The color is red. The capital of France is Paris."
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    inc = IncrementalText(tokenizer, stops=["France"])
    shown = ""
    for i in ids:
        shown += inc.add(i)
        assert "Fr" not in shown[len("The color is red. The capital of "):]  # nothing of the stop leaks out
        if inc.stopped:
            break
    shown += inc.finish()
    assert inc.stopped and shown == "The color is red. The capital of "


def test_requests_run_in_arrival_order_and_the_line_is_bounded():
    async def scenario() -> tuple[list[int], int]:
        queue = GenerationQueue(max_waiting=3)
        gate = threading.Event()
        order: list[int] = []

        def job(n: int):
            def work(ticket):
                if n == 0:
                    gate.wait(10)
                order.append(n)
                return n
            return work

        tickets = [queue.submit(job(n)) for n in range(4)]  # one running (held at the gate), three waiting
        while queue.stats()["running"] == 0:
            await asyncio.sleep(0.01)
        with pytest.raises(QueueFull) as full:
            queue.submit(job(99))
        gate.set()
        for ticket in tickets:
            async for _kind, _value in ticket.events():
                pass
        queue.close()
        return order, full.value.retry_after

    order, retry_after = asyncio.run(scenario())
    assert order == [0, 1, 2, 3]
    assert retry_after >= 1


def test_accepted_connections_have_nagle_off():
    """With Nagle on, each streamed chunk waits ~40 ms for the client's delayed ACK (measured: /health 44 ms)."""
    async def accept_one() -> int:
        sock = bind_socket("127.0.0.1", 0)
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=sock)
        _reader, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        value = await asyncio.wait_for(seen, 10)
        writer.close()
        server.close()
        return value

    assert asyncio.run(accept_one()) != 0
