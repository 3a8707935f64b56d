"""The wizard's side of evaluation: the Export step asks whether to evaluate and what, and the run ends with the table."""

from __future__ import annotations

from pathlib import Path

from wizard import jobs
from wizard.draft import DEPLOY, Draft
from wizard.steps import by_id


def test_the_export_step_asks_evaluate_and_the_benchmarks_and_off_drops_the_stage():
    draft = Draft()
    draft.set_text("dataset.sft", "self-cognition")
    fields = by_id("export").fields(draft)
    assert fields.index("export.method") < fields.index("eval.enabled") < fields.index("eval.benchmarks")
    draft.set_text("eval.benchmarks", "identity, mcq-zh")
    assert draft.spec().eval.benchmarks == ["identity", "mcq-zh"]
    draft.set_text("eval.enabled", "false")
    assert "eval" not in draft.spec().stage_names()
    assert "eval.enabled" in by_id("export").fields(draft) and "eval.benchmarks" not in by_id("export").fields(draft)
    draft.set_text(DEPLOY, "false")
    assert draft.spec().stages == ["download", "sft", "merge", "export"]


def test_a_deploy_only_job_is_not_asked_about_evaluation():
    draft = Draft()
    draft.set_text("task", "deploy")
    assert "eval.enabled" not in by_id("export").fields(draft)


def test_the_run_ends_with_the_eval_table_once_report_md_exists(tmp_path: Path):
    assert jobs.eval_table(tmp_path) == []
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "report.md").write_text("# Evaluation\n\n| benchmark | metric |\n|---|---|\n| identity | named % |\n")
    assert jobs.eval_table(tmp_path) == ["| benchmark | metric |", "|---|---|", "| identity | named % |"]
