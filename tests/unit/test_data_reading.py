"""Reading dataset files: JSONL, JSON and CSV, each problem on its real line, all of them reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.data.sft import load_sft
from tests.helpers.data import HI, YO, problems_of, spec_for


def good(i: int = 0) -> dict:
    return {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}


def test_a_jsonl_file_reports_every_bad_line_with_its_number(tmp_path: Path):
    data = tmp_path / "d.jsonl"
    data.write_text(
        json.dumps(good()) + "\n"
        "{not json\n"
        "\n"
        '["a list"]\n'
        + json.dumps({"messages": [HI, {"role": "assistant", "content": "  "}]}) + "\n"
        + json.dumps({"messages": [HI]}) + "\n"
    )
    lines = problems_of(spec_for(str(data)))
    assert lines[0].startswith(f"{data}:2: not valid JSON")
    assert lines[1] == f"{data}:4: expected a JSON object, got a list"
    assert lines[2] == f"{data}:5: messages[1]: empty assistant turn"
    assert lines[3] == f"{data}:6: messages has no assistant turn to learn from"
    assert len(lines) == 4


def test_problems_are_capped_with_a_count_of_the_rest(tmp_path: Path):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps(good()) + "\n" + "{bad\n" * 50)
    lines = problems_of(spec_for(str(data)))
    assert len(lines) == 21
    assert lines[19].startswith(f"{data}:21: not valid JSON")
    assert lines[20] == "... and 30 more problems; fix these and check again"


def test_a_json_array_numbers_each_object_by_the_line_it_starts_on(tmp_path: Path):
    data = tmp_path / "d.json"
    rows = [good(0), {"messages": [HI, {"role": "robot", "content": "x"}]}, good(2)]
    data.write_text(json.dumps(rows, indent=2))
    text = data.read_text().splitlines()
    start = next(i for i, line in enumerate(text, 1) if '"robot"' in line)
    lines = problems_of(spec_for(str(data)))
    assert len(lines) == 1
    where, message = lines[0].split(": ", 1)
    line = int(where.rsplit(":", 1)[1])
    assert 2 < line < start and "messages[1].role must be one of" in message


def test_a_broken_json_array_names_the_line_of_the_syntax_error(tmp_path: Path):
    data = tmp_path / "d.json"
    data.write_text('[\n  {"messages": []},\n  {"messages": oops}\n]\n')
    assert problems_of(spec_for(str(data)))[0].startswith(f"{data}:3: not valid JSON")


def test_a_json_file_with_one_object_a_line_is_read_like_jsonl(tmp_path: Path):
    data = tmp_path / "d.json"
    data.write_text(json.dumps(good(1)) + "\n" + json.dumps(good(2)) + "\n")
    assert len(load_sft(spec_for(str(data))).train) == 2


def test_a_csv_file_gives_alpaca_rows_and_counts_lines_inside_quoted_cells(tmp_path: Path):
    data = tmp_path / "d.csv"
    data.write_text(
        "instruction,input,output\n"
        'Add,"1 and\n2",3\n'
        "Name a colour,,Red\n"
        "Too,many,values,here\n"
        "Empty answer,,\n"
    )
    lines = problems_of(spec_for(str(data)))
    assert lines == [
        f"{data}:5: has 4 values but the header has 3 columns",
        f"{data}:6: output: empty assistant turn",
    ]


def test_a_csv_cell_may_hold_a_conversation_as_json(tmp_path: Path):
    data = tmp_path / "d.csv"
    cell = json.dumps([HI, YO]).replace('"', '""')
    data.write_text(f'messages\n"{cell}"\n"[not json"\n')
    lines = problems_of(spec_for(str(data)))
    assert len(lines) == 1 and lines[0].startswith(f"{data}:3: column messages: not valid JSON")
    data.write_text(f'messages,system\n"{cell}",Be brief.\n')
    assert load_sft(spec_for(str(data))).train == [[{"role": "system", "content": "Be brief."}, HI, YO]]


def test_a_csv_header_with_a_repeated_column_is_refused(tmp_path: Path):
    data = tmp_path / "d.csv"
    data.write_text("instruction,output,output\na,b,c\n")
    assert problems_of(spec_for(str(data))) == [
        f"{data}:1: the header row needs one unique, non-empty name per column (repeated: output)"
    ]


@pytest.mark.parametrize("content", ["", "\n\n", "instruction,output\n"])
def test_a_file_without_rows_is_refused(tmp_path: Path, content: str):
    data = tmp_path / ("d.csv" if "," in content else "d.jsonl")
    data.write_text(content)
    assert problems_of(spec_for(str(data))) == [f"{data}: the dataset has no rows"]


def test_missing_folder_odd_suffix_and_non_utf8_files_are_one_line_each(tmp_path: Path):
    assert "no such dataset file" in problems_of(spec_for(str(tmp_path / "nope.jsonl")))[0]
    assert "is a folder" in problems_of(spec_for(str(tmp_path)))[0]
    odd = tmp_path / "d.parquet"
    odd.write_bytes(b"PAR1")
    assert "unknown dataset file type .parquet" in problems_of(spec_for(str(odd)))[0]
    latin = tmp_path / "d.jsonl"
    latin.write_bytes('{"instruction": "caf\u00e9"}'.encode("latin-1"))
    assert "not UTF-8 text" in problems_of(spec_for(str(latin)))[0]


def test_problems_are_listed_in_line_order_whatever_found_them_first(tmp_path: Path):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"messages": [HI]}) + "\n" + json.dumps(good()) + "\n{oops\n")
    assert [line.split(": ", 1)[0] for line in problems_of(spec_for(str(data)))] == [f"{data}:1", f"{data}:3"]


def test_the_cap_keeps_the_first_lines_of_the_file(tmp_path: Path):
    rows = [json.dumps({"messages": [HI]})] * 25 + ["{oops"] * 5
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(rows) + "\n")
    lines = problems_of(spec_for(str(data)))
    assert lines[0].startswith(f"{data}:1: ") and lines[19].startswith(f"{data}:20: ")
    assert lines[20] == "... and 10 more problems; fix these and check again"
