"""Supervised formats: auto-detection says what it chose, odd rows are problems on their lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.data.sft import load_sft
from tests.helpers.data import HI, YO, problems_of, spec_for
from tests.helpers.jobs import write_jsonl

CHAT = [HI, YO]

ROWS = {
    "messages": {"messages": CHAT, "system": "Be kind."},
    "alpaca": {"instruction": "Greet", "input": "in French", "output": "Bonjour", "system": "Be kind."},
    "sharegpt": {"system": "Be kind.", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]},
}
EXPECTED = {
    "messages": [{"role": "system", "content": "Be kind."}, HI, YO],
    "alpaca": [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Greet\n\nin French"},
        {"role": "assistant", "content": "Bonjour"},
    ],
    "sharegpt": [{"role": "system", "content": "Be kind."}, HI, YO],
}


@pytest.mark.parametrize("fmt", list(ROWS))
@pytest.mark.parametrize("suffix", ["jsonl", "json", "csv"])
def test_auto_detects_each_supervised_format_in_each_file_type(tmp_path: Path, fmt: str, suffix: str):
    row = ROWS[fmt]
    path = tmp_path / f"d.{suffix}"
    if suffix == "jsonl":
        write_jsonl(path, [row, row])
    elif suffix == "json":
        path.write_text(json.dumps([row, row], indent=1))
    else:
        cells = {k: json.dumps(v) if isinstance(v, list) else v for k, v in row.items()}
        header = list(cells)
        quoted = ",".join('"' + cells[k].replace('"', '""') + '"' for k in header)
        path.write_text(",".join(header) + "\n" + quoted + "\n" + quoted + "\n")
    data = load_sft(spec_for(str(path)))
    assert data.format == fmt
    assert data.train == [EXPECTED[fmt], EXPECTED[fmt]]


def test_an_explicit_format_is_used_as_given(tmp_path: Path):
    path = write_jsonl(tmp_path / "d.jsonl", [ROWS["alpaca"]])
    assert load_sft(spec_for(str(path), format="alpaca")).format == "alpaca"
    lines = problems_of(spec_for(str(path), format="messages"))
    assert lines == [f"{path}:1: missing field messages"]


def test_the_majority_decides_and_each_odd_row_is_a_problem_on_its_line(tmp_path: Path):
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [ROWS["alpaca"], {"messages": CHAT}, {"messages": CHAT}, {"question": "x"}, ROWS["sharegpt"]],
    )
    assert problems_of(spec_for(str(path))) == [
        f"{path}:1: this row is alpaca (instruction/input/output) but the file is messages; use one format per file",
        f"{path}:4: missing field messages",
        f"{path}:5: this row is sharegpt (conversations with from/value) but the file is messages; "
        "use one format per file",
    ]


def test_rows_with_unknown_keys_only_say_which_keys_each_format_needs(tmp_path: Path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"q": "a", "a": "b"}])
    (line,) = problems_of(spec_for(str(path)))
    assert line.startswith(f"{path}:1: cannot tell the format from the keys (a, q); messages rows have messages;")
    assert "alpaca rows have instruction/input/output" in line


def test_preference_data_given_as_sft_data_says_where_it_belongs(tmp_path: Path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"}])
    assert problems_of(spec_for(str(path))) == [
        f"{path}: this is dpo data (prompt/chosen/rejected or messages+rejected_response), but this dataset "
        "needs supervised rows (messages, alpaca or sharegpt); give this file as dataset.preference"
    ]


BAD = [
    ({"messages": [HI, {"role": "assistant", "content": ""}]}, "messages[1]: empty assistant turn"),
    ({"messages": [HI]}, "messages has no assistant turn to learn from"),
    ({"messages": []}, "messages must be a non-empty list of {role, content} messages"),
    ({"messages": "hi"}, "messages must be a non-empty list of {role, content} messages"),
    ({"messages": [HI, {"role": "assistant"}]}, "messages[1].content must be text, got nothing"),
    ({"messages": [HI, {"role": "bot", "content": "x"}]}, "messages[1].role must be one of system, user, assistant, tool, got 'bot'"),
    ({"messages": [HI, {"role": "system", "content": "s"}, YO]}, "messages[1]: a system message must come first"),
    ({"messages": CHAT, "system": 3}, "system must be text, got int"),
    ({"instruction": "Greet", "input": ""}, "missing field output"),
    ({"instruction": "Greet", "output": " "}, "output: empty assistant turn"),
    ({"instruction": "", "output": "x"}, "instruction is empty: nothing to answer"),
    ({"instruction": "Greet", "output": "x", "history": [["q"]]}, "history must be a list of [question, answer] pairs of text"),
    ({"conversations": [{"from": "alien", "value": "x"}]}, "conversations[0].from must be one of human, gpt, system, tool; got 'alien'"),
    ({"conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": ""}]}, "conversations[1]: empty assistant turn"),
]


@pytest.mark.parametrize(("row", "message"), BAD, ids=[m for _, m in BAD])
def test_each_bad_row_is_named_with_its_line_and_what_is_wrong(tmp_path: Path, row: dict, message: str):
    path = write_jsonl(tmp_path / "d.jsonl", [row])
    assert problems_of(spec_for(str(path))) == [f"{path}:1: {message}"]


def test_every_bad_row_of_a_file_is_reported_not_only_the_first(tmp_path: Path):
    rows = [{"messages": CHAT}] + [row for row, _ in BAD if "messages" in row]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    lines = problems_of(spec_for(str(path)))
    assert [line.split(": ", 1)[0] for line in lines] == [f"{path}:{i}" for i in range(2, len(rows) + 1)]


def test_alpaca_history_becomes_earlier_turns(tmp_path: Path):
    row = {"instruction": "And 3+3?", "output": "6", "history": [["1+1?", "2"]]}
    path = write_jsonl(tmp_path / "d.jsonl", [row])
    assert load_sft(spec_for(str(path))).train == [[
        {"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"},
        {"role": "user", "content": "And 3+3?"}, {"role": "assistant", "content": "6"},
    ]]
