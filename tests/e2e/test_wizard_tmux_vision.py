"""Issue 13's "done when", as an operator does it: `./yichuidingyin.sh` in an 80×24 tmux pane, the multimodal
task on a local tiny VLM folder with the built-in image set, small settings typed into the fields, AWQ export
and deploy, Save and run — then the Run screen until the server is up, and the `openai` client asking the
served 4-bit model about a picture sent as a base64 PNG data URL.

Every screen of the path is read back with capture-pane and checked to fit the 80×24 pane (title on the first
line, the key footer on the last). Settings follow `demo --vision`'s (tiny model, short rows, few steps), so
the whole run takes a couple of minutes on two CPU cores.
"""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest

from engine.files import JobFiles
from engine.serve import process
from tests.conftest import run_cli
from tests.e2e.test_wizard_tmux import Pane
from tests.e2e.test_wizard_tmux import pytestmark as needs_tmux
from tests.helpers.vlm import data_url, image_part

pytestmark = [pytest.mark.slow, needs_tmux]  # trains, exports and serves a tiny VLM from the wizard

API_KEY = "wizard-vision-test-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def whole(pane: Pane, text: str, footer: str = "f1 Help", timeout: float = 60) -> str:
    """Wait for `text`, then check the screen is whole inside 80×24: the title on the first line, the key
    footer on the last (a screen taller than the pane pushes one of them out)."""
    pane.wait_for(text, timeout)
    deadline = time.monotonic() + 10  # the footer is drawn a moment after the body
    while True:
        screen = pane.screen()
        lines = screen.split("\n")[:24]
        if len(lines) == 24 and footer in lines[-1] and "yichuidingyin" in lines[0]:
            return screen
        assert time.monotonic() < deadline, f"not whole in 80×24 (title first, {footer!r} last):\n{screen}"
        time.sleep(0.1)


def help_text(screen: str) -> str:
    """The help lines above Back/Next: they name the focused field ("label: what it means")."""
    lines = screen.split("\n")
    nav = next((i for i, line in enumerate(lines) if "◀ Back" in line), len(lines))
    return "\n".join(lines[max(0, nav - 3):nav])


def focus(pane: Pane, label: str, tabs: int = 40) -> None:
    """Tab until the field called `label` has the focus (the help line names the focused field)."""
    shown = steady_help(pane)
    for _ in range(tabs):
        if f"\n {label}: " in "\n" + shown.lstrip("\n"):
            return
        pane.keys("Tab")
        shown = steady_help(pane, shown)
    raise AssertionError(f"Tab never reached {label!r}; the pane shows:\n{pane.screen()}")


def steady_help(pane: Pane, before: str | None = None, timeout: float = 3) -> str:
    """The help lines once they changed from `before` and then held still for a moment: one Tab at a time,
    judged only after it has been drawn (a half-drawn screen would send a second Tab past the field)."""
    deadline = time.monotonic() + timeout
    last, since = help_text(pane.screen()), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = help_text(pane.screen())
        if now != last:
            last, since = now, time.monotonic()
        elif last != before and time.monotonic() - since >= 0.3:
            break
    return last


def fill(pane: Pane, label: str, value: str, tries: int = 3) -> None:
    """Type `value` into the field called `label`, replacing what it held, and see the row show it.

    Textual runs a bound key (Ctrl+A, Ctrl+K) only after it has bubbled up the widget tree, so characters
    sent in the same burst can land before it; an operator's hands are slower than that. So: clear, wait
    for the empty field and a beat more, type, and type again if the row does not show the value."""
    focus(pane, label)
    for attempt in range(tries):
        pane.keys("C-a", "C-k")
        settle(pane, rf"^ {re.escape(label)}\s*$", f"{label} was not cleared")
        time.sleep(0.3)
        pane.keys("-l", value)
        try:
            shown = re.escape(value) if len(value) <= 50 else r"\S*" + re.escape(value[-40:])  # a long one scrolls
            settle(pane, rf"^ {re.escape(label)} +{shown}\s*(\S\S)?$", f"{label} never showed {value!r}", 3)
            return
        except AssertionError:
            if attempt == tries - 1:
                raise


def settle(pane: Pane, pattern: str, failure: str, timeout: float = 10) -> str:
    """Wait until a line of the pane matches `pattern`."""
    row = re.compile(pattern, re.M)
    deadline = time.monotonic() + timeout
    while not row.search(screen := pane.screen()):
        assert time.monotonic() < deadline, f"{failure}:\n{screen}"
        time.sleep(0.05)
    return screen


def choose(pane: Pane, label: str, value: str, downs: int) -> None:
    """Open the choice field called `label`, move `downs` rows from its current choice and take it."""
    focus(pane, label)
    pane.keys("Enter")
    whole(pane, "Dismiss menu", footer="Dismiss menu")  # the open menu has its own footer
    pane.keys(*["Down"] * downs)
    time.sleep(0.3)
    pane.keys("Enter")
    settle(pane, rf"^ {re.escape(label)} +{re.escape(value)} +▼", f"{label} is not {value}")


def answer_the_steps(pane: Pane, folder: Path, port: int) -> None:
    """From the first screen to the Review step, every screen checked to fit the pane."""
    first = whole(pane, "f1 Help", timeout=120)
    assert "Multimodal fine-tune (images + text)" in first
    pane.keys("Down", "Down", "Down", "Down", "Down", "Enter")
    model = whole(pane, "vision-language models in the catalogue")
    assert "step 2 of 6" in model
    fill(pane, "model", str(folder))
    model = whole(pane, "model folder")  # the local folder's check answered from its worker
    assert re.search(r"^ hub +local ", model, re.M), "typing a folder switched the hub"
    pane.keys("C-n")
    data = whole(pane, "format messages + images · 240 rows")
    assert "shapes-vqa" in data and "▀▀▀▀" in data, "the built-in image set, with thumbnails"
    pane.keys("C-n")

    train = whole(pane, "needs ~")
    assert "step 4 of 6" in train and "freeze vision tower" in train and "freeze projector" in train
    # demo --vision's training, as tests/e2e/test_train_vision.py's learning test measures it: full fine-tuning
    # of the language model (vision tower and projector frozen), batch 8, lr 2e-3 constant, short rows.
    pane.keys("Down", "Down")  # lora → qlora → full in the method list (the focus starts there)
    deadline = time.monotonic() + 10
    while "LoRA rank r" in pane.screen():  # full fine-tuning has no LoRA settings: their rows go
        assert time.monotonic() < deadline, f"the method list did not take full:\n{pane.screen()}"
        time.sleep(0.05)
    for label, value in (("learning rate", "0.002"), ("max steps", "100"), ("batch size", "8"),
                         ("max length", "96")):
        fill(pane, label, value)
    focus(pane, "freeze projector")
    pane.keys("Tab", "Enter")  # the next stop is "Advanced settings": open it
    pane.wait_for("▼ Advanced settings")
    fill(pane, "grad accum", "1")
    choose(pane, "lr scheduler", "constant", 2)  # cosine → linear → constant
    fill(pane, "warmup ratio", "0")
    whole(pane, "warmup ratio")
    pane.keys("C-n")

    export = whole(pane, "step 5 of 6")
    assert re.search(r"^ deploy when done +▐X▌ yes", export, re.M), "deploy is on"
    focus(pane, "quantized export")
    pane.keys("Enter")  # open the choices and take AWQ (4-bit weights, 16-bit activations: W4A16)
    menu = whole(pane, "Dismiss menu", footer="Dismiss menu")
    assert [line[25:].strip() for line in menu.splitlines()[3:7]] == ["awq", "w8a16", "bnb-4bit", "none"], menu
    pane.keys("Enter")  # the menu opens on the current choice
    settle(pane, r"^ quantized export +awq +▼", "export is not awq")
    fill(pane, "port", str(port))
    focus(pane, "API key env var")
    pane.keys("Tab", "Enter")
    pane.wait_for("▼ Advanced settings")
    # demo --vision's export settings: few calibration rows, and room for what 4 bits cost a random model.
    fill(pane, "calibration samples", "16")
    fill(pane, "max ppl ratio", "1.5")
    whole(pane, "max ppl ratio")
    pane.keys("C-n")

    review = whole(pane, "step 6 of 6")
    assert "tiny-vlm-sft" in review
    whole(pane, "verdict:", timeout=90)


def test_the_wizard_takes_the_multimodal_task_to_a_served_4bit_model_that_answers_an_image(tmp_path: Path):
    from engine.demo_vision import heldout
    from engine.tiny_vlm import build_tiny_vlm
    from wizard import jobs

    folder = build_tiny_vlm(tmp_path / "tiny-vlm", "qwen2-vl")
    port = free_port()
    job_dir = tmp_path / "jobs" / "tiny-vlm-sft"
    pane = Pane(tmp_path, env={"YCDY_API_KEY": API_KEY})  # the runner, and so the server, inherit the key
    try:
        try:
            answer_the_steps(pane, folder, port)
            pane.keys("C-r")  # Save and run

            running = whole(pane, "Leave", footer="Leave", timeout=30)
            assert "sft" in running and "export" in running and "deploy" in running
            whole(pane, f"serving at http://127.0.0.1:{port}/v1", footer="Leave", timeout=900)
            finished = whole(pane, "finished: outputs in", footer="Leave", timeout=120)
            assert f"serving at http://127.0.0.1:{port}/v1" in finished
            assert "✓ sft  ✓ export  ✓ eval  ✓ deploy" in finished
            assert "/v1 · images: base64 data: URLs" in finished, "how to ask about a picture"
            assert "100%" in finished.split("\n")[2], "the bar of a finished job is full, not deploy's spinner"
            pane.keys("q")  # leave the Run screen: the server keeps running
            assert "WIZARD-EXIT-0" in pane.wait_for("WIZARD-EXIT-")
        finally:
            pane.close()

        from openai import OpenAI

        record = json.loads(JobFiles(job_dir).serve.read_text())
        assert record["status"] == "running" and record["auth"] is True, record
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=API_KEY, max_retries=0, timeout=120)
        row = heldout(1)[0]
        picture = Path(row["image"]).read_bytes()
        answer = client.chat.completions.with_raw_response.create(
            model="tiny-vlm-sft", max_tokens=6, temperature=0,
            messages=[{"role": "user", "content": [image_part(data_url(picture)),
                                                   {"type": "text", "text": row["question"]}]}])
        assert answer.http_response.status_code == 200
        reply = answer.parse().choices[0].message.content
        assert reply and reply.strip(), f"the served model gave an empty answer: {reply!r}"

        export_dir = JobFiles(job_dir).stage_dir("export")
        quant = json.loads((export_dir / "config.json").read_text())["quantization_config"]
        assert quant["quant_method"] == "compressed-tensors" and quant["format"] == "pack-quantized", quant
        weights = quant["config_groups"]["group_0"]["weights"]
        assert weights["num_bits"] == 4 and weights["type"] == "int", weights
        assert any("visual" in pattern for pattern in quant["ignore"]), "the vision tower stays unquantised"
        assert record["model_dir"] == str(export_dir), "the server serves the 4-bit export"
    finally:
        pid = jobs.runner_pid(job_dir)
        if pid is not None and pid > 0:  # a failed test must not leave the runner training
            jobs.stop_run(pid, hard=True)
        stopped = run_cli("stop", str(job_dir), cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not process.server_up(job_dir), "stop took the server down"
