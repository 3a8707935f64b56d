"""Shell injection and path escape: no job string is ever run by a shell, nothing leaves jobs/<name>/.

Two halves. Strings that would be dangerous in a shell and have no business in their field (job
name, served name, host, master_addr, env-var name, revision, hub ID) are refused by `run` with exit
2 before anything starts. Strings that are legitimate — file and folder paths full of `$(...)`,
backticks, `;`, quotes and a newline — go through a real run (download → DDP sft under torchrun →
merge → deploy), and the canary file that any shell would create never appears. The API key given
to deploy is then looked for in every file of the job and in every process's command line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from engine.cli import main
from tests.helpers.jobs import tiny_job, toy_sft_rows, write_job, write_jsonl
from tests.helpers.killing import kill_group
from tests.helpers.serving import QUIET_ENV, free_port

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(300)]  # ~40 s, most of it the DDP run
SECRET = "sk-ycdy-injection-0b7e44d1a9"


def payloads(canary: Path) -> list[str]:
    """What a shell would turn into `touch CANARY`."""
    return [f"x; touch {canary}", f"$(touch {canary})", f"`touch {canary}`", f"x\ntouch {canary}",
            f"x && touch {canary} #", f"x | touch {canary}"]


def refused_cases(canary: Path) -> list[tuple[str, object]]:
    cases: list[tuple[str, object]] = []
    for p in payloads(canary):
        cases += [("name", p), ("deploy.served_model_name", p), ("deploy.host", "127.0.0.1" + p),
                  ("parallel.master_addr", p), ("deploy.api_key_env", "KEY" + p), ("model.revision", "main" + p),
                  ("model.id@modelscope", "org/tiny" + p)]
    cases += [("name", "../escape"), ("name", "../../etc"), ("name", str(canary.parent / "abs")), ("name", ".."),
              ("name", "a/b"), ("name", "."), ("name", "~root"), ("name", "inj\n")]
    return cases


def set_field(job: dict, field: str, value: object) -> dict:
    if field == "model.id@modelscope":
        job["model"] = {"id": value, "hub": "modelscope"}
        return job
    *parents, leaf = field.split(".")
    node = job
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return job


def tree(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_shell_and_path_tricks_in_job_fields_are_refused_before_anything_runs(
    tmp_path: Path, tiny_model: Path, toy_data: Path, capsys: pytest.CaptureFixture
):
    canary = tmp_path / "CANARY"
    jobs = tmp_path / "jobs"
    before = tree(tmp_path)
    for i, (field, value) in enumerate(refused_cases(canary)):
        job = set_field(tiny_job(tiny_model, toy_data, name="inj", stages=["download", "sft", "merge", "deploy"]),
                        field, value)
        job_file = write_job(tmp_path / "cases" / f"{i}.yaml", job)
        code = main(["run", str(job_file), "--jobs-dir", str(jobs)])
        err = capsys.readouterr().err
        assert code == 2, (field, value, err)
        assert "Traceback" not in err and err.startswith("error: ")
        lead = field.split("@")[0]
        assert lead in err or lead.split(".")[-1] in err, (field, value, err)
    assert not canary.exists()
    new = tree(tmp_path) - before
    assert all(p.is_relative_to(tmp_path / "cases") for p in new), sorted(new - tree(tmp_path / "cases"))


def weird(base: Path, canary: Path) -> Path:
    """A folder name that makes any shell touch the canary: bare, or inside double quotes (checked below)."""
    return base / f"w $(touch {canary}) `touch {canary}` ; touch {canary} ; 'q' \"q\""


def test_the_canary_fires_when_a_shell_sees_the_path_bare_or_double_quoted(tmp_path: Path):
    """The control: without it, a canary that never appears would prove nothing."""
    canary = tmp_path / "CANARY"
    for line in (f"echo {weird(tmp_path, canary)}", f'echo "{weird(tmp_path, canary)}"'):
        canary.unlink(missing_ok=True)
        subprocess.run(["sh", "-c", line + " >/dev/null 2>&1"], check=False)
        assert canary.exists(), line


def every_cmdline() -> list[str]:
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                out.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    return out


@pytest.mark.slow
def test_paths_full_of_shell_syntax_reach_torchrun_and_the_server_as_plain_arguments(
    cli, tmp_path: Path, tiny_model_session: Path
):
    canary = tmp_path / "CANARY"
    model = weird(tmp_path / "models", canary)
    model.parent.mkdir(parents=True)
    shutil.copytree(tiny_model_session, model)
    data = write_jsonl(weird(tmp_path / "data", canary) / "rows $(id).jsonl", toy_sft_rows())
    jobs = weird(tmp_path, canary) / "jobs\nsecond line"
    job = tiny_job(model, data, name="inject", stages=["download", "sft", "merge", "deploy"],
                   train={"max_steps": 2, "save_steps": 100}, parallel={"strategy": "ddp", "num_processes": 2},
                   deploy={"port": free_port(), "start_timeout": 120, "served_model_name": "ns/tiny:v1"})
    job_file = write_job(tmp_path / "inject.yaml", job)
    before = tree(tmp_path)
    env = {**QUIET_ENV, "YCDY_API_KEY": SECRET, "HF_HOME": str(tmp_path / "hf-home")}
    job_dir = jobs / "inject"
    try:
        result = cli("run", str(job_file), "--jobs-dir", str(jobs), cwd=tmp_path, env=env, timeout=400)
        log = (job_dir / "logs" / "sft.log").read_text(errors="replace") if (job_dir / "logs" / "sft.log").exists() else ""
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:] + log[-3000:]
        record = json.loads((job_dir / "serve.json").read_text())
        server_argv = (Path("/proc") / str(record["pid"]) / "cmdline").read_bytes().split(b"\0")
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        cmdlines = every_cmdline()

        import openai

        client = openai.OpenAI(base_url=record["base_url"], api_key=SECRET, max_retries=0, timeout=60)
        assert [m.id for m in client.models.list().data] == ["ns/tiny:v1"]
        reply = client.chat.completions.create(model="ns/tiny:v1", messages=[{"role": "user", "content": "hi"}],
                                               max_tokens=3)
        assert reply.choices[0].message.content is not None
    finally:
        if (job_dir / "serve.json").exists():
            kill_group(json.loads((job_dir / "serve.json").read_text())["pid"])

    assert not canary.exists(), "a shell ran one of the paths"
    state = json.loads((job_dir / "state.json").read_text())["stages"]
    assert state["sft"]["outputs"]["processes"] == 2, "sft ran under torchrun, with the paths in its argv"
    assert str(job_dir / "merged").encode() in server_argv, "the model folder is one argv element, unsplit"
    assert b"ns/tiny:v1" in server_argv

    assert SECRET not in ps and not [c for c in cmdlines if SECRET in c], "the key is on a command line"
    leaks = [p for p in job_dir.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert not leaks, leaks
    for name in ("job.yaml", "events.jsonl", "serve.log", "serve.json"):
        assert (job_dir / name).is_file(), name

    new = tree(tmp_path) - before
    leading = set(job_dir.parents)  # the folders on the way to jobs/<name>/ (made by mkdir -p)
    outside = sorted(p for p in new if p not in leading and not p.is_relative_to(job_dir)
                     and not p.is_relative_to(tmp_path / "hf-home"))
    assert not outside, outside
    assert os.listdir(jobs) == ["inject"]
