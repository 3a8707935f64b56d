"""The wizard's UI-free parts: the step description covers JobSpec, both languages cover the UI,
drafts round-trip jobs, and the Run screen's reading of events.jsonl, locks and serve.json."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.events import EventLog
from engine.render import load_job
from engine.spec import JobSpec
from wizard import i18n, jobs, schema, steps
from wizard.draft import DEPLOY, Draft
from wizard.i18n import en, zh
from wizard.runwatch import RunView
from wizard.widgets.loss_chart import draw
from wizard.widgets.path_input import suggest

ROOT = Path(__file__).resolve().parents[2]


def test_every_jobspec_field_is_asked_by_exactly_one_step_so_new_fields_appear_in_both_front_ends():
    draft = Draft()
    owners: dict[str, list[str]] = {}
    for step in steps.STEPS:
        common, advanced = step.common, step._advanced_all(draft, every=True)
        for path in {*common, *advanced}:
            owners.setdefault(path, []).append(step.id)
    missing = [p for p in schema.leaf_paths() if p not in owners and p not in steps.EXCLUDED]
    assert missing == []
    shared = {"dataset.format", "dataset.model_name", "dataset.model_author"} | set(steps._DATASET_REST)
    twice = {p: ids for p, ids in owners.items() if len(ids) > 1 and p not in shared}
    assert twice == {}  # the data fields are offered on whichever data step a job has first


def test_chinese_covers_every_english_text_and_every_field_label_and_help():
    assert sorted(set(en.UI) - set(zh.UI)) == []
    fields = [p for p in schema.leaf_paths() if p not in steps.EXCLUDED] + [DEPLOY]
    assert [p for p in fields if p not in zh.LABELS] == []
    assert [p for p in fields if p not in zh.HELP] == []


@pytest.mark.parametrize(("env", "lang"), [
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LANG": "zh_TW.UTF-8", "LC_ALL": "C.UTF-8"}, "en"),
    ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "zh_CN.UTF-8", "YCDY_LANG": "en"}, "en"),
    ({}, "en"),
])
def test_the_language_follows_the_locale(env: dict[str, str], lang: str):
    assert i18n.detect(env) == lang


def test_english_help_is_the_jobspec_description_itself():
    i18n.set_lang("en")
    assert i18n.help_text("train.learning_rate") == JobSpec.model_fields["train"].annotation.model_fields[
        "learning_rate"].description


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_a_draft_made_from_a_job_builds_the_same_job(example: Path):
    spec = load_job(example)
    assert Draft.from_spec(spec).spec() == spec


def test_turning_deploy_off_writes_the_tasks_stages_without_deploy_and_back_on_removes_the_list():
    draft = Draft()
    draft.set_text("dataset.sft", "self-cognition")
    draft.set_text(DEPLOY, "false")
    assert draft.spec().stages == ["download", "sft", "merge", "export", "eval"]
    assert Draft.from_spec(draft.spec()).deploy is False
    draft.set_text(DEPLOY, "true")
    assert draft.spec().stages is None


def test_steps_skip_what_the_task_does_not_need():
    draft = Draft()
    for task, ids in {
        "sft": ["task", "model", "data", "train", "export", "review"],
        "dpo": ["task", "model", "preference", "train", "export", "review"],
        "export": ["task", "model", "export", "review"],
        "deploy": ["task", "model", "export", "review"],
    }.items():
        draft.set_text("task", task)
        assert [s.id for s in steps.active(draft)] == ids
    draft.set_text("task", "sft")
    draft.set_text("train.method", "full")
    assert "train.lora.r" not in steps.by_id("train").fields(draft)


def test_the_run_view_folds_events_written_by_the_engine(tmp_path: Path):
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.emit("download", "stage_start")
    log.emit("download", "stage_end", status="done", seconds=0.5)
    log.emit("sft", "stage_start")
    for step, loss in enumerate([3.0, 2.5, 2.0], 1):
        log.emit("sft", "progress", step=step, total=10, unit="step", eta_s=7.0 * (10 - step) / 10)
        log.emit("sft", "metric", step=step, loss=loss)
    view = RunView(["download", "sft", "merge"])
    view.read(path)
    assert view.status == {"download": "done", "sft": "running", "merge": "pending"}
    assert view.losses["sft"] == [3.0, 2.5, 2.0] and view.loss_stage() == "sft"
    assert view.progress["sft"].step == 3 and view.progress["sft"].eta() == pytest.approx(4.9)
    seen = view.logged
    log.emit("sft", "error", message="interrupted")
    view.read(path)
    assert view.new_lines(seen) == ["[sft] error: interrupted"] and view.failed()


def test_the_eta_comes_from_the_rate_when_the_engine_sends_none():
    view = RunView(["sft"])
    view.apply({"t": 100.0, "stage": "sft", "kind": "progress", "step": 0, "total": 30})
    view.apply({"t": 110.0, "stage": "sft", "kind": "progress", "step": 10, "total": 30})
    assert view.progress["sft"].eta() == pytest.approx(20.0)


def test_a_running_job_is_found_by_its_lock_and_a_finished_one_is_not(tmp_path: Path):
    job_dir = tmp_path / "jobs" / "x"
    job_dir.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fh = open({str(job_dir / '.lock')!r}, 'w'); fcntl.flock(fh, fcntl.LOCK_EX)\n"
        "fh.write(str(os.getpid())); fh.flush(); print('locked', flush=True); time.sleep(60)\n"
    )], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert jobs.runner_pid(job_dir) == holder.pid
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    assert jobs.runner_pid(job_dir) is None
    assert (job_dir / ".lock").read_text() == str(holder.pid)  # looking never truncates the runner's pid


def test_the_curl_line_comes_from_serve_json_and_names_the_key_variable_never_its_value(tmp_path: Path):
    record = {"status": "running", "url": "http://127.0.0.1:8011", "base_url": "http://127.0.0.1:8011/v1",
              "model": "my-job", "api_key_env": "MY_KEY", "auth": True}
    (tmp_path / "serve.json").write_text(json.dumps(record))
    info = jobs.read_serve(tmp_path)
    assert info is not None and jobs.serve_url(info) == "http://127.0.0.1:8011/v1"
    line = jobs.curl_example(info, "fallback")
    assert line.startswith("curl http://127.0.0.1:8011/v1/chat/completions ")
    assert '"Authorization: Bearer $MY_KEY"' in line and '"model": "my-job"' in line


def test_path_completion_extends_to_the_common_prefix_and_knows_built_in_names(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train-a.jsonl").write_text("")
    (tmp_path / "data" / "train-b.jsonl").write_text("")
    assert suggest("da", []) == "data/"
    assert suggest("data/tr", []) == "data/train-"
    assert suggest("data/train-a", []) == "data/train-a.jsonl"
    assert suggest("self", ["self-cognition"]) == "self-cognition"
    assert suggest("nothing-here", []) is None


def test_the_loss_chart_draws_a_falling_loss_high_on_the_left():
    rows = draw([4.0, 3.0, 2.0, 1.0], width=4, height=2)
    assert rows == ["█▃  ", "██▆▁"]
    assert all(len(r) == 40 for r in draw([float(i % 7) for i in range(500)], width=40, height=3))


def test_the_wizard_and_the_engine_apis_it_calls_never_import_the_ml_stack():
    code = (
        "import wizard.app, wizard.plain, wizard.__main__\n"
        "from wizard import sources\nfrom wizard.draft import Draft\n"
        "d = Draft(); d.set_text('dataset.sft', 'self-cognition')\n"
        "sources.models(''); sources.estimate(d.mapping()); sources.preview('self-cognition')\n"
        "sources.check_model('builtin/smollm2-135m-instruct', 'builtin')\n"
        "import sys, json; print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    loaded = {m.split(".")[0] for m in json.loads(out.strip().splitlines()[-1])}
    assert not {"torch", "transformers", "datasets", "peft", "trl", "accelerate", "bitsandbytes"} & loaded
