"""`--plain`: the same steps as questionary prompts, driven through a real pseudo-terminal (pexpect),
writing the same job file as the Textual wizard for the same answers.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from engine.render import load_job
from tests.functional.test_wizard import next_to, run, steady  # noqa: F401  (steady is autouse)
from wizard.app import WizardApp

pexpect = pytest.importorskip("pexpect", reason="pexpect is in the test extra: pip install -e .[test]")

ROOT = Path(__file__).resolve().parents[2]
ESC = r"(?:\x1b\[[0-9;?]*[a-zA-Z])*"
# questionary's "? label" as prompt_toolkit draws it: a styled "?", then the styled label up to the next escape
PROMPT = re.compile(r"\?" + ESC + r"\s" + ESC + r"([^\r\n\x1b]+)\x1b")
END = re.escape("\x1b[?2004l")  # prompt_toolkit turns bracketed paste off when a prompt returns


def spawn(cwd: Path, *args: str) -> pexpect.spawn:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "YCDY_JOBS_DIR": str(cwd / "jobs"),
        "YCDY_LANG": "en",
        "YCDY_WIZARD_NO_PLAN": "1",  # the plan subprocess is the Review's own test
        "PROMPT_TOOLKIT_NO_CPR": "1",  # the pty never answers cursor-position queries
    }
    child = pexpect.spawn(sys.executable, ["-m", "wizard", "--plain", *args], cwd=str(cwd), env=env,
                          encoding="utf-8", dimensions=(50, 160), timeout=60)
    child.logfile_read = open(cwd / "pty.log", "w", encoding="utf-8")  # noqa: SIM115 (closed with the child)
    return child


def accept_defaults(child: pexpect.spawn, until: str | None = None) -> int:
    """Press Enter at every prompt, up to the one whose label contains `until` (or the end); return how many."""
    count = 0
    while child.expect([PROMPT, pexpect.EOF]) == 0:
        if until is not None and until in child.match.group(1):
            return count
        child.send("\r")
        child.expect(END)  # this prompt is done: its last redraw must not be taken for the next prompt
        count += 1
    assert until is None, f"the prompts ended before {until!r}"
    return count


def test_plain_prompts_with_every_default_write_the_same_job_file_as_the_tui(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch):
    child = spawn(tmp_path)
    prompts = accept_defaults(child)
    child.close()
    assert child.exitstatus == 0, (tmp_path / "pty.log").read_text()
    assert prompts >= 20  # every common field of every step was asked
    plain = tmp_path / "jobs" / "smollm2-135m-instruct-sft" / "job.yaml"

    monkeypatch.setenv("YCDY_JOBS_DIR", str(tmp_path / "tui-jobs"))

    async def scenario(pilot, app):  # type: ignore[no-untyped-def]
        await pilot.press("enter")
        await next_to(pilot, "review")
        await pilot.press("ctrl+s")

    outcome = run(WizardApp(), scenario)
    assert outcome is not None and outcome.job is not None
    assert plain.read_text() == outcome.job.read_text()


def test_plain_asks_again_with_the_pydantic_message_until_the_value_is_valid(tmp_path: Path):
    child = spawn(tmp_path)
    accept_defaults(child, until="learning rate")
    child.send("\x01\x0b" + "fast\r")  # Ctrl+A, Ctrl+K: clear the default, then a refused value
    child.expect("unable to parse string as a number")
    child.send("\x01\x0b" + "0.0005\r")
    child.expect(END)
    accept_defaults(child, until="deploy when done")
    child.send("n")  # confirm prompts take y/n
    child.expect(END)
    accept_defaults(child)
    child.close()
    assert child.exitstatus == 0, (tmp_path / "pty.log").read_text()
    spec = load_job(tmp_path / "jobs" / "smollm2-135m-instruct-sft" / "job.yaml")
    assert spec.train.learning_rate == 0.0005
    assert spec.stage_names() == ["download", "sft", "merge", "export", "eval"]


def test_ctrl_c_at_a_prompt_quits_without_writing_anything(tmp_path: Path):
    child = spawn(tmp_path)
    child.expect(PROMPT)
    child.sendcontrol("c")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert not (tmp_path / "jobs").exists()


@pytest.mark.slow  # trains and merges the tiny model behind the plain prompts
def test_plain_save_and_run_follows_the_job_to_its_end(tmp_path: Path, tiny_model: Path):
    from engine.render import render_job
    from engine.spec import JobSpec
    from tests.helpers.jobs import tiny_job, toy_sft_rows, write_jsonl

    data = write_jsonl(tmp_path / "toy.jsonl", toy_sft_rows(16))
    draft = tmp_path / "draft.yaml"
    draft.write_text(render_job(JobSpec.model_validate(tiny_job(tiny_model, data, name="plain-run",
                                                                 train={"max_steps": 3}))))
    child = spawn(tmp_path, "--job", str(draft))
    accept_defaults(child, until="What now")
    child.send("\x1b[B\r")  # ↓ to "Save and run"
    child.expect(END)
    child.expect(pexpect.EOF, timeout=240)
    child.close()
    out = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", (tmp_path / "pty.log").read_text())
    assert child.exitstatus == 0, out[-2000:]
    assert "── sft ──" in out and "── merge: done" in out
    assert f"finished: outputs in {tmp_path / 'jobs' / 'plain-run'}" in out
    assert (tmp_path / "jobs" / "plain-run" / "merged").is_dir()
