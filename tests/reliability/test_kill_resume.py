"""SIGKILL the whole pipeline at every stage in turn, run it again each time, and check what survives.

One job — download from the (throttled) loopback hub → sft → dpo → merge → AWQ export → deploy — is
killed mid-file, mid-SFT (after a checkpoint), mid-DPO (after a checkpoint), three times during export
(calibrating, saving, about to rename) and while the server starts. Each re-run must resume at the stage (and step) where the last one died, skip
what is done, and in the end every artifact must verify: checksums from model.json, adapters and
models that reload and generate, and a served model that answers exactly as the export does locally.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from engine.files import EXPORT_REPORT, JobFiles
from engine.training import checkpoints
from engine.util.fs import TMP_MARK
from tests.fakehub import repo_from_folder
from tests.helpers import killing
from tests.helpers.jobs import COLORS, toy_sft_rows, write_job, write_jsonl
from tests.helpers.serving import QUIET_ENV, free_port, get_json
from tests.helpers.throttled_hub import ThrottledHub, hub_env

pytestmark = [pytest.mark.slow, pytest.mark.reliability, pytest.mark.timeout(420)]  # ~75 s on 2 busy cores

REPO = "org/tiny-killed"
WEIGHTS = "model.safetensors"
SFT_STEPS, DPO_STEPS, EVERY = 12, 12, 3
KEY = "sk-kill-resume-5e0c7a"


@dataclass
class Chain:
    job_dir: Path
    hub: ThrottledHub
    tiny: Path
    runs: dict[str, killing.Run] = field(default_factory=dict)  # the run killed at each point, and "final"
    at_kill: dict[str, Any] = field(default_factory=dict)  # what each kill left on disk
    servers: list[int] = field(default_factory=list)

    def after(self, point: str) -> list[dict]:
        """Events of the run that followed the kill at `point`."""
        order = list(self.runs)
        return self.runs[order[order.index(point) + 1]].events


def preference_rows(n: int = 24, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    return [{"prompt": f"Say the color {c}.", "chosen": f"The color is {c}.", "rejected": "I will not say it."}
            for c in (rng.choice(COLORS) for _ in range(n))]


def export_temp(job_dir: Path, run: killing.Run) -> Path:
    """The export's temp folder in `run` (engine.util.fs.temporary_dir: named by the process that writes it)."""
    return job_dir / f"export{TMP_MARK}{run.proc.pid}"


def export_leftovers(job_dir: Path, run: killing.Run) -> dict[str, Any]:
    export = JobFiles(job_dir).stage_dir("export")
    state = json.loads(JobFiles(job_dir).state.read_text())["stages"].get("export", {})
    return {"export_exists": export.exists(), "export_done": state.get("status") == "done",
            "export_whole": export.is_dir() and (export / EXPORT_REPORT).is_file() and (export / "README.md").is_file()
            and (export / "config.json").is_file(),
            "temp": export_temp(job_dir, run).name,
            "temps": sorted(p.name for p in job_dir.iterdir() if TMP_MARK in p.name)}


def checkpoint_then_a_later_step(folder: Path, stage: str):
    """Kill point: a complete checkpoint exists and a later step's loss is already logged."""
    def ready(events: list[dict]) -> bool:
        done = checkpoints.latest(folder)
        logged = [e["step"] for e in events if e["stage"] == stage and e["kind"] == "metric" and "loss" in e]
        return done is not None and bool(logged) and logged[-1] > checkpoints.step_of(done)
    return ready


@pytest.fixture(scope="module")
def chain(tiny_model_session: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("kill-resume")
    hub = ThrottledHub().start()
    hub.add(repo_from_folder(REPO, tiny_model_session))
    size = hub.repos[REPO].files[WEIGHTS].size
    job_file = write_job(root / "killed.yaml", {
        "name": "killed", "task": "sft+dpo",
        "stages": ["download", "sft", "dpo", "merge", "export", "deploy"],
        "model": {"id": REPO, "hub": "modelscope"},
        "dataset": {"sft": str(write_jsonl(root / "sft.jsonl", toy_sft_rows())),
                    "preference": str(write_jsonl(root / "pref.jsonl", preference_rows()))},
        "train": {"method": "lora", "max_steps": SFT_STEPS, "save_steps": EVERY, "batch_size": 4, "max_length": 64,
                  "learning_rate": 0.003},
        "dpo": {"max_steps": DPO_STEPS, "learning_rate": 0.005},
        "export": {"method": "awq", "calibration_samples": 8, "calibration_max_length": 32, "max_ppl_ratio": 3.0},
        "deploy": {"port": free_port(), "start_timeout": 120},
    })
    jobs = root / "jobs"
    env = {**QUIET_ENV, **hub_env(hub, root), "YCDY_API_KEY": KEY}
    c = Chain(jobs / "killed", hub, tiny_model_session)
    n = 0

    def run() -> killing.Run:
        nonlocal n
        n += 1
        return killing.start_run(job_file, jobs, env, root / f"run{n}.log")

    try:
        hub.rate_bps = size / 4  # about 4 s for the weights: room to kill mid-file
        r = c.runs["download"] = run()
        killing.kill_when(r, lambda ev: any(0 < e["step"] < e["total"] for e in killing.progress_of("download", ev, "B")
                                            if "rate_bps" in e))
        c.at_kill["download"] = {"manifest": (c.job_dir / "model.json").exists()}
        hub.rate_bps = None

        r = c.runs["sft"] = run()
        killing.kill_when(r, checkpoint_then_a_later_step(c.job_dir / "checkpoints" / "sft", "sft"))
        c.at_kill["sft"] = {"resume_at": checkpoints.step_of(checkpoints.latest(c.job_dir / "checkpoints" / "sft"))}
        c.at_kill["download_gets"] = hub.requests("GET", file=WEIGHTS)

        r = c.runs["dpo"] = run()
        killing.kill_when(r, checkpoint_then_a_later_step(c.job_dir / "checkpoints" / "dpo", "dpo"))
        c.at_kill["dpo"] = {"resume_at": checkpoints.step_of(checkpoints.latest(c.job_dir / "checkpoints" / "dpo"))}

        # Three kills in export: while it calibrates, while it saves the compressed checkpoint into its temp
        # folder, and once that folder is complete (report written), just before it is renamed into place.
        r = c.runs["export"] = run()
        killing.kill_when(r, lambda ev: bool(killing.progress_of("export", ev)))
        c.at_kill["export"] = export_leftovers(c.job_dir, r)

        r = c.runs["export-save"] = run()
        killing.kill_when(r, lambda ev: "saving the compressed checkpoint" in killing.said(ev)
                          and any(p.is_file() for p in export_temp(c.job_dir, r).glob("*")))
        c.at_kill["export-save"] = export_leftovers(c.job_dir, r)

        r = c.runs["export-rename"] = run()
        killing.kill_when_exists(r, lambda: [export_temp(c.job_dir, r) / EXPORT_REPORT,
                                             JobFiles(c.job_dir).stage_dir("export") / EXPORT_REPORT])
        c.at_kill["export-rename"] = export_leftovers(c.job_dir, r)

        r = c.runs["deploy"] = run()
        killing.kill_when(r, lambda ev: "server starting (pid" in killing.said(ev))
        orphan = json.loads((c.job_dir / "serve.json").read_text())
        c.servers.append(orphan["pid"])
        c.at_kill["deploy"] = orphan

        r = c.runs["final"] = run()
        killing.finish(r)
        c.servers.append(json.loads((c.job_dir / "serve.json").read_text())["pid"])
        yield c
    finally:
        for r in c.runs.values():
            killing.stop(r)
        for pid in c.servers:
            killing.kill_group(pid)
        hub.stop()


def test_a_download_killed_mid_file_resumes_from_the_partial_file_and_verifies(chain: Chain):
    assert chain.at_kill["download"]["manifest"] is False, "a killed download must not look finished"
    gets = chain.at_kill["download_gets"]
    assert [(g["range"] is None, g["status"]) for g in gets] == [(True, -1), (False, 206)], gets
    size = chain.hub.repos[REPO].files[WEIGHTS].size  # the killed body was cut; the re-run asked for the rest only
    assert 0 < int(gets[1]["range"].removeprefix("bytes=").rstrip("-")) < size
    manifest = json.loads((chain.job_dir / "model.json").read_text())
    expected = {p: f.sha256 for p, f in chain.hub.repos[REPO].files.items()}
    assert manifest["files"] == expected
    folder = Path(manifest["path"])
    for rel, digest in expected.items():
        assert hashlib.sha256((folder / rel).read_bytes()).hexdigest() == digest, rel


def test_a_run_killed_mid_sft_resumes_from_its_checkpoint_and_does_not_download_again(chain: Chain):
    after = chain.after("sft")
    text = killing.said(after)
    assert "download: done earlier with the same settings, skipped" in text
    resume_at = chain.at_kill["sft"]["resume_at"]
    assert f"resuming from checkpoint-{resume_at}" in text
    steps = [e["step"] for e in killing.progress_of("sft", after) if "step" in e]
    assert steps == list(range(resume_at + 1, SFT_STEPS + 1)), "exactly the remaining steps, each once"


def test_a_run_killed_mid_dpo_resumes_its_checkpoint_and_reuses_the_merged_sft_model(chain: Chain):
    after = chain.after("dpo")
    text = killing.said(after)
    for stage in ("download", "sft"):
        assert f"{stage}: done earlier with the same settings, skipped" in text
    assert "the merged SFT model is up to date; reusing it" in text
    resume_at = chain.at_kill["dpo"]["resume_at"]
    assert 0 < resume_at < DPO_STEPS and f"resuming from checkpoint-{resume_at}" in text
    steps = [e["step"] for e in killing.progress_of("dpo", after) if "step" in e]
    assert steps == list(range(resume_at + 1, DPO_STEPS + 1))


@pytest.mark.parametrize("point", ["export", "export-save"])
def test_an_export_killed_while_it_calibrates_or_saves_leaves_only_its_temp_folder(chain: Chain, point: str):
    left = chain.at_kill[point]
    assert left["export_exists"] is False, "a half-written export/ must never appear"
    assert left["temps"] == [left["temp"]], "the killed export's work was in its own temp folder, and only there"
    after = chain.after(point)
    assert "export" in killing.stage_starts(after), "the next run exported again"
    assert not (chain.job_dir / left["temp"]).exists(), "the next run removed the killed run's temp folder"


def test_an_export_killed_at_its_rename_left_either_nothing_or_a_whole_export(chain: Chain):
    left = chain.at_kill["export-rename"]
    assert left["export_whole"] if left["export_exists"] else left["temps"] == [left["temp"]], left
    assert [t for t in left["temps"] if t != left["temp"]] == [], "no other temp survived the earlier runs"
    after = chain.after("export-rename")
    # A kill that lands after the rename but before state.json says done must not count as done: export again.
    redo = {} if left["export_done"] else {"export": 1}
    assert killing.stage_starts(after) == {**redo, "deploy": 1}, "the rerun redid only what was unfinished"
    assert not [p for p in chain.job_dir.rglob("*") if TMP_MARK in p.name], "every killed run's temp folder is gone"
    report = json.loads((chain.job_dir / "export" / EXPORT_REPORT).read_text())
    assert report["quality"]["passed"] is True


def test_a_run_killed_while_the_server_starts_replaces_the_orphan_with_one_server_that_answers(chain: Chain):
    from engine.serve.process import alive

    orphan = chain.at_kill["deploy"]
    text = killing.said(chain.after("deploy"))
    assert f"stopping the server this job started earlier (pid {orphan['pid']})" in text
    assert not alive(orphan["pid"]), "the orphan server was left running"
    record = json.loads((chain.job_dir / "serve.json").read_text())
    assert record["status"] == "running" and record["pid"] != orphan["pid"] and alive(record["pid"])
    assert get_json(f"{record['url']}/health")["pid"] == record["pid"]


def test_no_stage_ran_more_often_than_the_kills_made_it(chain: Chain):
    counts = killing.stage_starts(killing.events_of(chain.job_dir))
    exports = 3 + (not chain.at_kill["export-rename"]["export_done"])  # unless the last kill came after "done"
    assert counts == {"download": 2, "sft": 2, "dpo": 2, "merge": 1, "export": exports, "deploy": 2}
    state = json.loads((chain.job_dir / "state.json").read_text())["stages"]
    assert all(s["status"] == "done" for s in state.values()), state
    assert state["sft"]["outputs"]["steps"] == SFT_STEPS and state["dpo"]["outputs"]["steps"] == DPO_STEPS
    assert state["sft"]["outputs"]["resumed_from_step"] == chain.at_kill["sft"]["resume_at"]
    assert state["dpo"]["outputs"]["resumed_from_step"] == chain.at_kill["dpo"]["resume_at"]
    assert not (chain.job_dir / "checkpoints" / "sft").exists() and not (chain.job_dir / "checkpoints" / "dpo").exists()
    leaks = [p for p in chain.job_dir.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert not leaks, f"the API key was written to {leaks}"


def test_every_artifact_reloads_and_the_served_model_answers_as_the_export_does(chain: Chain):
    import openai
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    j = chain.job_dir
    prompt = [{"role": "user", "content": "Say the color blue."}]
    tok = AutoTokenizer.from_pretrained(j / "merged")
    ids = tok.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt", return_dict=True)

    def greedy(model) -> str:
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=8, do_sample=False)
        return tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)

    name = "model.layers.0.self_attn.q_proj.weight"
    downloaded = Path(json.loads((j / "model.json").read_text())["path"])
    sft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(downloaded), j / "sft").merge_and_unload()
    base = AutoModelForCausalLM.from_pretrained(j / "dpo-base")
    assert torch.allclose(sft.state_dict()[name], base.state_dict()[name], atol=1e-5), "dpo-base = download + sft"
    with_adapter = PeftModel.from_pretrained(base, j / "dpo").merge_and_unload()
    merged = AutoModelForCausalLM.from_pretrained(j / "merged")
    assert torch.allclose(with_adapter.state_dict()[name], merged.state_dict()[name], atol=1e-5)
    assert greedy(merged) == greedy(with_adapter)

    export = AutoModelForCausalLM.from_pretrained(j / "export")
    local = greedy(export)
    record = json.loads((j / "serve.json").read_text())
    client = openai.OpenAI(base_url=record["base_url"], api_key=KEY, max_retries=0, timeout=60)
    served = client.chat.completions.create(model="killed", messages=prompt, max_tokens=8, temperature=0)
    assert served.choices[0].message.content == local
