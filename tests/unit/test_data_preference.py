"""Preference data for DPO and KTO: every accepted shape becomes TRL's conversational rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.data.preference import load_preference, to_unpaired
from engine.errors import UserError
from engine.spec import JobSpec
from tests.helpers.jobs import write_jsonl

USER = [{"role": "user", "content": "Who are you?"}]
GOOD = [{"role": "assistant", "content": "I am Hammer."}]
BAD = [{"role": "assistant", "content": "I am ChatGPT."}]
PAIR = {"prompt": USER, "chosen": GOOD, "rejected": BAD}


def spec_for(preference: str, algorithm: str = "dpo", **dataset) -> JobSpec:
    return JobSpec.model_validate({
        "name": "t", "task": "dpo", "model": {"id": "m", "hub": "local"},
        "dataset": {"preference": preference, **dataset}, "dpo": {"algorithm": algorithm},
    })


def problems_of(spec: JobSpec) -> list[str]:
    with pytest.raises(UserError) as info:
        load_preference(spec)
    return info.value.lines


SHAPES = {
    "plain strings": {"prompt": "Who are you?", "chosen": "I am Hammer.", "rejected": "I am ChatGPT."},
    "conversational": {"prompt": USER, "chosen": GOOD, "rejected": BAD},
    "answer objects": {"prompt": USER, "chosen": GOOD[0], "rejected": BAD[0]},
    "messages + rejected_response": {"messages": USER + GOOD, "rejected_response": "I am ChatGPT."},
    "implicit prompt": {"chosen": USER + GOOD, "rejected": USER + BAD},
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_dpo_shape_becomes_a_conversational_pair(tmp_path: Path, shape: str):
    path = write_jsonl(tmp_path / "p.jsonl", [SHAPES[shape]])
    data = load_preference(spec_for(str(path)))
    assert (data.format, data.source) == ("dpo", str(path))
    assert data.train == [PAIR] and data.val == []


def test_a_system_field_goes_in_front_of_the_prompt(tmp_path: Path):
    row = {"system": "Be brief.", "prompt": "Who are you?", "chosen": "I am Hammer.", "rejected": "I am ChatGPT."}
    data = load_preference(spec_for(str(write_jsonl(tmp_path / "p.jsonl", [row]))))
    assert data.train[0]["prompt"] == [{"role": "system", "content": "Be brief."}, *USER]


def test_kto_rows_keep_their_boolean_labels(tmp_path: Path):
    rows = [{"prompt": "Who are you?", "completion": "I am Hammer.", "label": True},
            {"prompt": USER, "completion": BAD, "label": False}]
    data = load_preference(spec_for(str(write_jsonl(tmp_path / "k.jsonl", rows)), algorithm="kto"))
    assert data.format == "kto"
    assert sorted(data.train, key=lambda r: r["label"]) == [
        {"prompt": USER, "completion": BAD, "label": False},
        {"prompt": USER, "completion": GOOD, "label": True},
    ]


def test_kto_labels_may_be_the_words_true_and_false_only_in_csv(tmp_path: Path):
    csv = tmp_path / "k.csv"
    csv.write_text("prompt,completion,label\nWho are you?,I am Hammer.,true\nWho are you?,I am ChatGPT.,FALSE\n"
                   "Who are you?,I am X.,yes\n")
    assert problems_of(spec_for(str(csv), algorithm="kto")) == [f"{csv}:4: label must be true or false, got 'yes'"]
    csv.write_text("prompt,completion,label\nWho are you?,I am Hammer.,true\nWho are you?,I am ChatGPT.,FALSE\n")
    assert sorted(r["label"] for r in load_preference(spec_for(str(csv), algorithm="kto")).train) == [False, True]
    jsonl = write_jsonl(tmp_path / "k.jsonl", [{"prompt": "p", "completion": "c", "label": "true"},
                                               {"prompt": "p", "completion": "c", "label": 1}])
    assert problems_of(spec_for(str(jsonl), algorithm="kto")) == [
        f"{jsonl}:1: label must be true or false (a JSON boolean), got the string 'true'",
        f"{jsonl}:2: label must be true or false, got 1",
    ]


BAD_ROWS = [
    ({"prompt": "p", "chosen": "", "rejected": "r"}, "chosen: empty assistant turn"),
    ({"prompt": "p", "chosen": "c", "rejected": [{"role": "assistant", "content": " "}]}, "rejected[0]: empty assistant turn"),
    ({"prompt": " ", "chosen": "c", "rejected": "r"}, "prompt is empty"),
    ({"prompt": "p", "chosen": "same", "rejected": "same"}, "chosen and rejected are the same answer; the pair teaches nothing"),
    ({"prompt": USER + GOOD, "chosen": "c", "rejected": "r"}, "prompt must end with the user's turn; the answers go in chosen/rejected or completion"),
    ({"prompt": "p", "chosen": USER + GOOD, "rejected": "r"}, "chosen must hold only the assistant's answer (role assistant); put the conversation before it in prompt"),
    ({"prompt": 5, "chosen": "c", "rejected": "r"}, "prompt must be text or a list of messages, got int"),
    ({"chosen": USER + GOOD, "rejected": [{"role": "user", "content": "other"}, *BAD]}, "missing field prompt: without it, chosen and rejected must be the same conversation up to their last assistant turn"),
    ({"messages": USER, "rejected_response": "r"}, "messages has no assistant turn to learn from"),
    ({"messages": USER + GOOD + USER, "rejected_response": "r"}, "messages must end with the preferred (chosen) assistant turn"),
    ({"messages": USER + GOOD, "rejected_response": ""}, "rejected_response: empty assistant turn"),
]


@pytest.mark.parametrize(("row", "message"), BAD_ROWS, ids=[m[:50] for _, m in BAD_ROWS])
def test_each_bad_pair_is_named_with_its_line(tmp_path: Path, row: dict, message: str):
    path = write_jsonl(tmp_path / "p.jsonl", [PAIR, row])
    assert problems_of(spec_for(str(path))) == [f"{path}:2: {message}"]


def test_every_bad_pair_is_reported_together(tmp_path: Path):
    path = write_jsonl(tmp_path / "p.jsonl", [PAIR] + [row for row, _ in BAD_ROWS])
    lines = problems_of(spec_for(str(path)))
    assert [line.split(": ", 1)[0] for line in lines] == [f"{path}:{i}" for i in range(2, len(BAD_ROWS) + 2)]


def test_a_missing_kto_label_and_missing_completion_are_both_reported(tmp_path: Path):
    path = write_jsonl(tmp_path / "k.jsonl", [{"prompt": "p", "completion": "c", "label": True}, {"prompt": "p", "label": False}])
    assert problems_of(spec_for(str(path), algorithm="kto", format="kto")) == [f"{path}:2: missing field completion"]


def test_supervised_rows_given_as_preference_data_say_where_they_belong(tmp_path: Path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"messages": USER + GOOD}])
    (line,) = problems_of(spec_for(str(path)))
    assert line.startswith(f"{path}: this is messages data") and "give this file as dataset.sft" in line


def test_kto_rows_cannot_feed_a_dpo_run(tmp_path: Path):
    path = write_jsonl(tmp_path / "k.jsonl", [{"prompt": "p", "completion": "c", "label": True}])
    (line,) = problems_of(spec_for(str(path)))
    assert "have no pairs for DPO; set dpo.algorithm: kto" in line


def test_a_missing_preference_entry_is_a_user_error():
    spec = spec_for("x.jsonl")
    spec.dataset.preference = None
    assert problems_of(spec) == [
        "dataset.preference: the dpo stage needs preference data; give a file or a built-in name"
    ]


def test_pairs_unpair_into_kto_rows():
    assert to_unpaired([PAIR]) == [
        {"prompt": USER, "completion": GOOD, "label": True},
        {"prompt": USER, "completion": BAD, "label": False},
    ]


def test_preference_rows_honour_max_samples_val_ratio_and_seed(tmp_path: Path):
    rows = [{"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(40)]
    path = str(write_jsonl(tmp_path / "p.jsonl", rows))
    a = load_preference(spec_for(path, max_samples=20, val_ratio=0.25))
    b = load_preference(spec_for(path, max_samples=20, val_ratio=0.25))
    assert (len(a.train), len(a.val)) == (15, 5)
    assert a.train == b.train and a.val == b.val


def test_a_pair_missing_its_rejected_answer_is_told_which_field_it_lacks(tmp_path: Path):
    path = write_jsonl(tmp_path / "p.jsonl", [PAIR, PAIR, {"prompt": "p", "chosen": "c"}])
    assert problems_of(spec_for(str(path))) == [f"{path}:3: missing field rejected"]
