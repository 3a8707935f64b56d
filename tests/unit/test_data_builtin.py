"""Built-in datasets, placeholder filling, splitting with the job seed, and the wizard's light preview."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.data import Identity, preview
from engine.data.builtin import get, is_builtin, list_builtin, path, paths
from engine.data.preference import load_preference
from engine.data.sft import load_sft
from engine.errors import UserError
from engine.spec import JobSpec
from tests.helpers.jobs import toy_sft_rows, write_jsonl

ROOT = Path(__file__).resolve().parents[2]


def spec_for(task: str = "sft", seed: int = 42, **dataset) -> JobSpec:
    return JobSpec.model_validate({"name": "t", "task": task, "model": {"id": "m", "hub": "local"},
                                   "dataset": dataset, "train": {"seed": seed}})


def test_the_registry_lists_sft_and_preference_sets_with_both_languages():
    sets = {d.name: d for d in list_builtin()}
    assert {"self-cognition", "general-qa", "identity-preference"} <= set(sets)
    assert sets["self-cognition"].kind == "sft" and sets["self-cognition"].rows >= 60
    assert sets["identity-preference"].kind == "preference" and sets["identity-preference"].rows >= 16
    assert all(d.description and d.description_zh for d in sets.values())
    assert [d.name for d in list_builtin("preference")] == [n for n, d in sets.items() if d.kind == "preference"]
    assert is_builtin("general-qa") and not is_builtin("general-qa.jsonl")
    assert path("self-cognition").is_file() and len(paths("self-cognition-mix")) == 2


@pytest.mark.parametrize("name", [d.name for d in list_builtin()])
def test_every_built_in_set_loads_cleanly_and_fills_every_placeholder(name: str):
    kind = get(name).kind
    spec = spec_for("sft" if kind == "sft" else "dpo", sft=name if kind == "sft" else None,
                    preference=name if kind == "preference" else None)
    if name.endswith("kto"):
        spec.dpo.algorithm = "kto"
    data = load_sft(spec) if kind == "sft" else load_preference(spec)
    assert len(data.train) == get(name).rows and data.source == f"builtin {name}"
    assert "{{" not in json.dumps(data.train, ensure_ascii=False)


def test_self_cognition_answers_with_the_jobs_name_and_author_in_english_and_chinese():
    spec = spec_for(sft="self-cognition", model_name="Bolt", model_author="Acme", model_name_zh="闪电",
                    model_author_zh="极客公司")
    text = json.dumps(load_sft(spec).train, ensure_ascii=False)
    assert "I am Bolt, an AI assistant developed by Acme." in text
    assert "我是闪电，由极客公司开发的人工智能助手。" in text
    assert "Hammer" not in text
    plain = json.dumps(load_sft(spec_for(sft="self-cognition", model_name="Bolt")).train, ensure_ascii=False)
    assert "我叫Bolt" in plain and "Yichuidingyin Lab" in plain


def test_the_mix_adds_general_questions_to_the_identity_rows():
    mix = load_sft(spec_for(sft="self-cognition-mix"))
    assert len(mix.train) == get("self-cognition").rows + get("general-qa").rows
    assert any("Paris" in m[-1]["content"] for m in mix.train)


def test_placeholders_in_the_operators_own_files_are_left_alone(tmp_path: Path):
    row = {"messages": [{"role": "user", "content": "{{NAME}}?"}, {"role": "assistant", "content": "{{AUTHOR}}"}]}
    data = load_sft(spec_for(sft=str(write_jsonl(tmp_path / "d.jsonl", [row]))))
    assert data.train[0][1]["content"] == "{{AUTHOR}}"


def test_shuffling_max_samples_and_val_ratio_follow_the_seed(tmp_path: Path):
    data = str(write_jsonl(tmp_path / "d.jsonl", [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
        for i in range(100)
    ]))
    a = load_sft(spec_for(sft=data, max_samples=50, val_ratio=0.1))
    b = load_sft(spec_for(sft=data, max_samples=50, val_ratio=0.1))
    c = load_sft(spec_for(sft=data, max_samples=50, val_ratio=0.1, seed=7))
    assert (len(a.train), len(a.val)) == (45, 5)
    assert (a.train, a.val) == (b.train, b.val)
    assert a.train != c.train
    order = [m[0]["content"] for m in a.train]
    assert order != sorted(order, key=lambda s: int(s[1:]))
    assert not {m[0]["content"] for m in a.val} & set(order)


def test_a_tiny_val_ratio_still_holds_out_one_row_and_too_few_rows_is_an_error(tmp_path: Path):
    data = str(write_jsonl(tmp_path / "d.jsonl", toy_sft_rows(10)))
    assert len(load_sft(spec_for(sft=data, val_ratio=0.01)).val) == 1
    one = str(write_jsonl(tmp_path / "one.jsonl", toy_sft_rows(1)))
    assert len(load_sft(spec_for(sft=one, val_ratio=0.4)).train) == 1


def test_the_preview_shows_format_rows_first_rows_and_problems(tmp_path: Path):
    p = preview("self-cognition", limit=2, identity=Identity(name="Bolt"))
    assert (p.format, p.kind, p.rows, p.problems) == ("messages", "sft", get("self-cognition").rows, [])
    assert len(p.first) == 2 and "Bolt" in p.first[0]["messages"][1]["content"]
    bad = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "p", "chosen": "c", "rejected": "r"},
                                             {"prompt": "p", "chosen": "", "rejected": "r"}])
    q = preview(str(bad))
    assert (q.format, q.kind, q.rows) == ("dpo", "preference", 1)
    assert q.problems == [f"{bad}:2: chosen: empty assistant turn"]
    missing = preview(str(tmp_path / "nope.jsonl"))
    assert missing.rows == 0 and "no such dataset file" in missing.problems[0]


def test_the_preview_and_registry_import_no_heavy_library():
    code = ("import sys, engine.data, engine.data.builtin as b; b.list_builtin(); engine.data.preview('self-cognition');"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'datasets', 'trl', 'peft'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_built_in_name_in_a_job_file_is_not_taken_for_a_path(tmp_path: Path):
    spec = spec_for(sft="self-cognition").with_paths_resolved(tmp_path)
    assert spec.dataset.sft == "self-cognition" and load_sft(spec).source == "builtin self-cognition"
    with pytest.raises(UserError) as info:
        load_sft(spec_for(sft="self-cognitoin"))
    assert info.value.lines == ["self-cognitoin: no such dataset file; did you mean the built-in dataset self-cognition?"]
    with pytest.raises(UserError) as info:
        load_sft(spec_for(sft="mydata"))
    assert info.value.lines[0].startswith("mydata: no such dataset file; built-in datasets are self-cognition, ")
