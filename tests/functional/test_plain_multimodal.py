"""`--plain` asks the multimodal task like the Textual wizard: the task list offers it, the model prompt lists
vision-language models, the data prompt offers the built-in image set and names each first row's images,
the method step asks the freeze options, and the job file is task sft on the tiny VLM folder with that set.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.render import load_job
from tests.functional.test_plain_pty import END, PROMPT, accept_defaults, spawn
from wizard import steps

pexpect = pytest.importorskip("pexpect", reason="pexpect is in the test extra: pip install -e .[test]")


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from engine.tiny_vlm import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("vlm") / "tiny-vlm", "qwen2-vl")


def test_plain_asks_the_multimodal_task_and_writes_a_job_on_the_tiny_vlm_with_the_image_set(tmp_path: Path,
                                                                                           tiny_vlm: Path):
    child = spawn(tmp_path)
    child.expect(PROMPT)
    assert "task" in child.match.group(1)
    child.send("\x1b[B" * (len(steps.task_choices()) - 1) + "\r")  # ↓ to the last choice: multimodal
    child.expect(END)
    child.expect(PROMPT)
    assert "model" in child.match.group(1)
    child.send("\x01\x0b" + str(tiny_vlm) + "\r")  # Ctrl+A, Ctrl+K: clear the default, then the folder
    child.expect(END)
    asked = accept_defaults(child)
    child.close()
    out = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", (tmp_path / "pty.log").read_text(encoding="utf-8"))
    assert child.exitstatus == 0, out[-3000:]
    assert "Multimodal fine-tune (images + text)" in out
    assert "vision-language models in the catalogue: " in out and "Qwen/Qwen2-VL-2B-Instruct" in out
    offered = re.findall(r"^ {4}(\S+) +\d+  ", out, re.M)  # the built-in sets' listing: name, rows, description
    assert offered == ["shapes-vqa", "shapes-vqa-heldout"], "only the image sets are offered"
    assert "format messages + images · 240 rows" in out
    assert "images: " in out and "shapes-vqa/images/train-0001.png" in out
    assert "freeze vision tower" in out and "freeze projector" in out
    assert asked >= 15
    spec = load_job(tmp_path / "jobs" / "tiny-vlm-sft" / "job.yaml")
    assert spec.task == "sft" and (spec.model.id, spec.model.hub) == (str(tiny_vlm.resolve()), "local")
    assert spec.dataset.sft == "shapes-vqa"
    assert spec.train.vision.freeze_vision_tower and spec.train.vision.freeze_projector
    assert spec.stage_names() == ["download", "sft", "merge", "export", "eval", "deploy"]
    assert spec.dataset.val_ratio == 0.1  # held-out pictures for eval and the export gate
