"""The wizard in a real terminal: `./yichuidingyin.sh` in an 80×24 tmux pane, driven with send-keys
and read with capture-pane, from the first screen to a saved job file — as an operator over SSH.

Uses the script itself when its environment stamp is current (as in CI, right after
`./yichuidingyin.sh test` set it up); otherwise the same `python -m wizard` the script would exec,
so a stale development venv is never reinstalled by a test.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.render import load_job

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed (apt-get install -y tmux) — the real-terminal test needs it"
)


def launcher() -> list[str]:
    stamp = ROOT / ".venv" / ".ycdy-installed"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().split()[:1] == [want]:
        return [str(ROOT / "yichuidingyin.sh")]
    return [sys.executable, "-m", "wizard"]


class Pane:
    def __init__(self, tmp: Path, env: dict[str, str] | None = None) -> None:
        self.socket = f"ycdy-test-{os.getpid()}-{time.monotonic_ns()}"  # a server still closing refuses sessions
        env = {"YCDY_JOBS_DIR": str(tmp / "jobs"), "YCDY_LANG": "en", "PYTHONPATH": str(ROOT), **(env or {})}
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        command = f"cd {shlex.quote(str(tmp))} && {exports} {shlex.join(launcher())}; echo WIZARD-EXIT-$?; sleep 60"
        self.tmux("new-session", "-d", "-s", "w", "-x", "80", "-y", "24", command)

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-t", "w", "-p")

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the pane shows:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "w", *keys)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def test_an_operator_goes_from_the_first_screen_to_a_saved_job_in_a_real_terminal(tmp_path: Path):
    pane = Pane(tmp_path)
    try:
        first = pane.wait_for("f1 Help", timeout=120)  # the footer with the keys: the app takes keys now
        assert "step 1 of 6" in first and "Fine-tune (SFT)" in first and "^n Next" in first
        pane.keys("Enter")
        model = pane.wait_for("step 2 of 6")
        assert "builtin/smollm2-135m-instruct" in model
        pane.wait_for("works offline")  # the existence check answered from its worker
        pane.keys("C-n")
        data = pane.wait_for("format messages · 70 rows", timeout=60)  # the preview of the built-in set
        assert "self-cognition" in data
        pane.keys("C-n")
        train = pane.wait_for("step 4 of 6")
        assert "learning rate" in train and "0.0001" in train
        pane.wait_for("needs ~")  # the estimator's figure next to each method
        pane.keys("C-n")
        pane.wait_for("step 5 of 6")
        pane.keys("C-n")
        review = pane.wait_for("step 6 of 6")
        assert "smollm2-135m-instruct-sft" in review and "Save and run" in review
        pane.wait_for("verdict:", timeout=90)  # the engine's plan, from its subprocess
        pane.keys("C-s")
        done = pane.wait_for("WIZARD-EXIT-0")
        assert "saved " in done
    finally:
        pane.close()
    spec = load_job(tmp_path / "jobs" / "smollm2-135m-instruct-sft" / "job.yaml")
    assert spec.task == "sft" and spec.dataset.sft == "self-cognition"
    assert spec.model.id == "builtin/smollm2-135m-instruct"


def test_an_operator_sets_up_the_multimodal_task_on_a_vlm_folder_in_a_real_terminal(tmp_path: Path):
    from engine.tiny_vlm import build_tiny_vlm

    folder = build_tiny_vlm(tmp_path / "tiny-vlm", "qwen2-vl")
    pane = Pane(tmp_path)
    try:
        first = pane.wait_for("f1 Help", timeout=120)
        assert "Multimodal fine-tune (images + text)" in first
        pane.keys("Down", "Down", "Down", "Down", "Down", "Enter")
        model = pane.wait_for("vision-language models in the catalogue")
        assert "step 2 of 6" in model and "Qwen/Qwen2-VL-2B-Instruct" in model
        time.sleep(1)  # the screen puts the focus on the model field after its first refresh
        pane.keys("C-a", "C-k")
        time.sleep(0.5)  # Textual runs bound keys once they bubbled up: typed text sent with them can land first
        pane.keys("-l", str(folder))
        pane.wait_for("local  ")  # typing a folder switched the hub
        pane.wait_for("model folder")  # the local folder's check answered from its worker
        pane.keys("C-n")
        data = pane.wait_for("format messages + images · 240 rows", timeout=60)
        assert "shapes-vqa" in data and "▀▀▀▀▀▀▀▀" in data, "the first rows' pictures as half-block thumbnails"
        pane.keys("C-n")
        pane.wait_for("step 4 of 6")
        pane.wait_for("needs ~")
        pane.keys("C-n")
        export = pane.wait_for("step 5 of 6")
        assert "evaluate" in export  # on: the held-out tenth of the pictures is scored before and after
        pane.keys("C-n")
        review = pane.wait_for("step 6 of 6")
        assert "tiny-vlm-sft" in review
        pane.wait_for("verdict:", timeout=90)
        pane.keys("C-s")
        assert "saved " in pane.wait_for("WIZARD-EXIT-0")
    finally:
        pane.close()
    spec = load_job(tmp_path / "jobs" / "tiny-vlm-sft" / "job.yaml")
    assert spec.task == "sft" and spec.dataset.sft == "shapes-vqa"
    assert (spec.model.id, spec.model.hub) == (str(folder.resolve()), "local")
    assert spec.train.vision.freeze_vision_tower and spec.train.vision.freeze_projector
    assert spec.stage_names() == ["download", "sft", "merge", "export", "eval", "deploy"]
    assert spec.dataset.val_ratio == 0.1
