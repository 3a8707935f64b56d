"""Eval inputs: benchmark files in EvalScope's formats, their mistakes as file:line with the fix, the eval fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from engine.context import model_source
from engine.errors import UserError
from engine.eval import identity
from engine.eval.benchmarks import SHIPPED, load_all, resolve
from engine.eval.readers import read_mcq, read_qa
from engine.spec import JobSpec
from engine.spec.stages import chain_problems

ROOT = Path(__file__).resolve().parents[2]


def spec(**extra) -> JobSpec:
    data = {"name": "j", "task": "sft", "model": {"id": "Qwen/Qwen2.5-0.5B-Instruct"}, "dataset": {"sft": "self-cognition"}}
    data.update(extra)
    return JobSpec.model_validate(data)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def problems(fn, *args) -> list[str]:
    with pytest.raises(UserError) as info:
        fn(*args)
    return info.value.lines


def test_a_general_mcq_csv_reads_into_questions(tmp_path: Path):
    path = write(tmp_path / "q.csv", "id,question,A,B,C,D,answer\n1,Two plus two?,3,4,5,6,b\n2,Sky?,blue,red,,,A\n")
    items = read_mcq(path)
    assert [it.reference for it in items] == ["B", "A"]
    assert list(items[1].choices) == ["A", "B"]  # empty choice cells are left out
    assert "B. 4" in items[0].prompt[0]["content"] and items[0].where == f"{path}:2"


def test_a_wrong_header_names_line_one_and_the_expected_header(tmp_path: Path):
    path = write(tmp_path / "q.csv", "question,option1,option2,answer\nx,a,b,A\n")
    (line,) = problems(read_mcq, path)
    assert line.startswith(f"{path}:1:") and "id,question,A,B,C,D,answer" in line


def test_bad_rows_are_reported_together_by_line(tmp_path: Path):
    path = write(tmp_path / "q.csv", "id,question,A,B,C,D,answer\n1,ok?,a,b,c,d,A\n2,,a,b,c,d,A\n3,which?,a,b,c,,E\n")
    lines = problems(read_mcq, path)
    assert lines[0].startswith(f"{path}:3:") and "question is empty" in lines[0]
    assert lines[1].startswith(f"{path}:4:") and "'E' is not among the choices (A, B, C)" in lines[1]


def test_a_missing_file_says_what_to_give(tmp_path: Path):
    (line,) = problems(read_mcq, tmp_path / "nope.csv")
    assert "no such benchmark file" in line and "eval.benchmarks" in line


def test_general_qa_lines_need_query_and_response(tmp_path: Path):
    path = write(tmp_path / "qa.jsonl", json.dumps({"query": "Capital of Italy?", "response": "Rome"}) + "\n"
                 + json.dumps({"question": "x", "answer": "y"}) + "\n" + json.dumps({"query": " ", "response": "y"}) + "\n"
                 + "{not json\n")
    lines = problems(read_qa, path)
    assert [ln.split(": ")[0] for ln in lines] == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert "needs query and response" in lines[0] and "query is empty" in lines[1] and "not valid JSON" in lines[2]
    write(path, json.dumps({"query": "Capital of Italy?", "response": "Rome", "system": "Be brief."}) + "\n")
    (item,) = read_qa(path)
    assert item.prompt[0] == {"role": "system", "content": "Be brief."} and item.reference == "Rome"


def test_an_unknown_benchmark_name_gets_did_you_mean():
    (line,) = problems(resolve, "mcq_en", spec())
    assert "did you mean mcq-en?" in line


def test_an_instructions_file_with_an_unknown_rule_is_refused(tmp_path: Path):
    path = write(tmp_path / "if.jsonl", json.dumps({"prompt": "Be short.", "rules": [{"rule": "max_word", "n": 5}]}) + "\n")
    (line,) = problems(resolve, str(path), spec())
    assert line.startswith(f"{path}:1:") and "did you mean max_words" in line


def test_every_shipped_benchmark_loads_and_user_files_are_named_by_file(tmp_path: Path):
    path = write(tmp_path / "mine.csv", "id,question,A,B,answer\n1,Yes?,yes,no,A\n")
    benches = load_all(spec(eval={"benchmarks": [*SHIPPED, str(path)], "limit": 5}))
    assert [b.name for b in benches] == [*SHIPPED, "mine.csv"]
    assert all(0 < len(b.items) <= 5 for b in benches)
    full = load_all(spec(eval={"benchmarks": ["mcq-en", "mcq-zh", "qa-en", "qa-zh", "instructions"]}))
    assert all(len(b.items) >= 12 for b in full)


def test_held_out_rows_come_from_val_ratio_and_are_scored_first():
    benches = load_all(spec(dataset={"sft": "self-cognition", "val_ratio": 0.2}, eval={"benchmarks": ["mcq-en"]}))
    assert [b.name for b in benches] == ["held-out", "mcq-en"]
    assert benches[0].kind == "heldout" and all(it.reference and it.prompt for it in benches[0].items)


def test_eval_dataset_may_hold_preference_pairs(tmp_path: Path):
    row = {"prompt": "Who are you?", "chosen": "I am Hammer.", "rejected": "I am SmolLM."}
    path = write(tmp_path / "pairs.jsonl", json.dumps(row) + "\n")
    (bench,) = load_all(spec(eval={"benchmarks": [], "dataset": str(path)}))
    assert bench.kind == "preference" and bench.items[0].rejected == "I am SmolLM."


def test_the_identity_probe_asks_nothing_the_training_rows_ask():
    trained = set()
    for line in (ROOT / "engine/data/builtin/self-cognition.jsonl").read_text(encoding="utf-8").splitlines():
        trained.add(json.loads(line)["messages"][0]["content"].strip())
    items = identity.probe(spec(dataset={"sft": "x.jsonl", "model_name": "Nova", "model_name_zh": "新星"}).dataset)
    assert {it.lang for it in items} == {"en", "zh"}
    assert not {it.prompt[0]["content"] for it in items} & trained
    assert all(it.names == ["Nova", "新星"] for it in items)


def test_eval_runs_after_export_and_a_disabled_eval_drops_the_stage():
    assert spec().stage_names() == ["download", "sft", "merge", "export", "eval", "deploy"]
    assert "eval" not in spec(eval={"enabled": False}).stage_names()
    with pytest.raises(ValueError, match="eval.enabled"):
        spec(stages=["download", "sft", "merge", "eval"], eval={"enabled": False})
    with pytest.raises(ValueError, match="nothing to score"):
        spec(eval={"benchmarks": []})


def test_eval_passes_the_model_on_and_needs_a_full_model():
    s = spec()
    assert model_source(s, ["download", "sft", "merge", "export", "eval"]) == "export"
    assert chain_problems(["download", "sft", "merge", "eval", "deploy"], "lora") == []
    (problem,) = chain_problems(["download", "sft", "eval"], "lora")
    assert "eval needs a full model" in problem and "add merge" in problem


def test_benchmark_paths_are_made_absolute_against_the_job_file(tmp_path: Path):
    write(tmp_path / "mine.csv", "id,question,A,B,answer\n1,Yes?,yes,no,A\n")
    s = spec(eval={"benchmarks": ["mcq-en", "mine.csv", "sub/other.jsonl"], "dataset": "held.jsonl"})
    resolved = s.with_paths_resolved(tmp_path)
    assert resolved.eval.benchmarks == ["mcq-en", str(tmp_path / "mine.csv"), str(tmp_path / "sub/other.jsonl")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(benchmarks=st.lists(st.sampled_from(["identity", "mcq-en", "a: b.csv", "yes", "引号'\".jsonl", "# x/y.csv"]),
                           unique=True, max_size=4),
       evalscope=st.lists(st.sampled_from(["mmlu", "ceval", "null", "gsm8k"]), unique=True, max_size=3),
       limit=st.none() | st.integers(1, 10**6), enabled=st.booleans(), dataset=st.none() | st.just("held: out.jsonl"))
def test_eval_fields_survive_render_then_load(benchmarks, evalscope, limit, enabled, dataset):
    from engine.render import parse_yaml, render_job, spec_from_mapping

    data = {"benchmarks": benchmarks, "evalscope": evalscope, "limit": limit, "enabled": enabled, "dataset": dataset}
    try:
        original = spec(dataset={"sft": "self-cognition", "val_ratio": 0.1}, eval=data)
    except ValueError:
        reject()
    text = render_job(original)
    assert "# Score the models after training" in text
    loaded, lines = parse_yaml(text, "job.yaml")
    assert spec_from_mapping(loaded, "job.yaml", lines) == original
