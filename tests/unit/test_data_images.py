"""Rows with images: every bad image is one `file:line` problem before any model loads, and every
accepted row form (tags + images, sharegpt, OpenAI content parts, preference rows) ends up in one
internal layout with absolute paths.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from engine.data import preview
from engine.data.multimodal import to_prompt_completion
from engine.data.preference import load_preference, to_unpaired
from engine.data.sft import load_sft
from engine.errors import UserError
from engine.spec import JobSpec
from engine.spec.model import ModelSpec
from tests.helpers.data import problems_of, spec_for
from tests.helpers.jobs import write_jsonl

ANSWER = {"role": "assistant", "content": "red"}


def png(path: Path, colour: tuple[int, int, int] = (220, 40, 40), size: tuple[int, int] = (8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def ask(text: str = "<image>What colour is the square?") -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}, ANSWER]


def one_problem(tmp_path: Path, row: dict[str, Any], **dataset: Any) -> str:
    data = write_jsonl(tmp_path / "data.jsonl", [row])
    lines = problems_of(spec_for(str(data), **dataset))
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{data}:1: "), lines
    return lines[0]


def test_a_missing_image_names_the_path_it_looked_for(tmp_path: Path):
    line = one_problem(tmp_path, {"messages": ask(), "images": ["img/0001.png"]})
    assert f"images[0]: img/0001.png not found (looked for {tmp_path / 'img' / '0001.png'})" in line


def test_a_folder_given_as_an_image_is_reported(tmp_path: Path):
    (tmp_path / "img").mkdir()
    assert "is a folder, not an image file" in one_problem(tmp_path, {"messages": ask(), "images": ["img"]})


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_image_is_reported(tmp_path: Path):
    png(tmp_path / "a.png").chmod(0)
    assert "cannot be read" in one_problem(tmp_path, {"messages": ask(), "images": ["a.png"]})


def test_a_file_that_is_not_an_image_is_reported(tmp_path: Path):
    (tmp_path / "a.png").write_text("not a picture")
    line = one_problem(tmp_path, {"messages": ask(), "images": ["a.png"]})
    assert "images[0]: a.png is not an image" in line


def test_a_truncated_png_is_reported_as_damaged(tmp_path: Path):
    whole = png(tmp_path / "a.png", size=(64, 64)).read_bytes()
    (tmp_path / "a.png").write_bytes(whole[: len(whole) // 2])
    assert "a.png is a damaged image" in one_problem(tmp_path, {"messages": ask(), "images": ["a.png"]})


def test_more_images_than_tags_is_reported(tmp_path: Path):
    png(tmp_path / "a.png")
    png(tmp_path / "b.png")
    line = one_problem(tmp_path, {"messages": ask(), "images": ["a.png", "b.png"]})
    assert "1 <image> tag but 2 images; put one <image> where each image goes, in order" in line


def test_a_tag_without_an_image_is_reported(tmp_path: Path):
    assert "1 <image> tag but 0 images" in one_problem(tmp_path, {"messages": ask()})


def test_a_tag_in_the_answer_is_reported(tmp_path: Path):
    png(tmp_path / "a.png")
    row = {"messages": [{"role": "user", "content": "Draw"}, {"role": "assistant", "content": "<image>"}],
           "images": ["a.png"]}
    assert "<image> in an assistant turn" in one_problem(tmp_path, row)


def test_an_image_over_max_image_pixels_is_reported_with_its_size(tmp_path: Path):
    png(tmp_path / "big.png", size=(40, 30))
    line = one_problem(tmp_path, {"messages": ask(), "images": ["big.png"]}, max_image_pixels=1000)
    assert "images[0]: big.png is 40×30 = 0.0 MP, over dataset.max_image_pixels (1000)" in line
    assert load_sft(spec_for(str(tmp_path / "data.jsonl"), max_image_pixels=1200)).images


def test_a_web_address_is_refused_with_how_to_download_it_first(tmp_path: Path):
    line = one_problem(tmp_path, {"messages": ask(), "images": ["https://example.com/cat.png"]})
    assert "is a web address, and training never fetches from the network" in line
    assert "download it first" in line


def test_images_given_to_a_text_only_model_are_reported_once(tmp_path: Path):
    png(tmp_path / "a.png")
    data = write_jsonl(tmp_path / "data.jsonl", [{"messages": ask(), "images": ["a.png"]}] * 3)
    text, vision = tmp_path / "text-model", tmp_path / "vl-model"
    text.mkdir()
    vision.mkdir()
    (text / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    (vision / "config.json").write_text(json.dumps({"model_type": "qwen2_vl", "vision_config": {"depth": 1}}))

    def job(model: Path) -> JobSpec:  # the data check alone: the job's own model checks are not under test
        return spec_for(str(data)).model_copy(update={"model": ModelSpec(id=str(model), hub="local")})

    with pytest.raises(UserError) as info:
        load_sft(job(text))
    assert info.value.lines == [f"{data}:1: this dataset has images, but model.id {text} is a text-only model "
                                "(no vision_config in its config.json); choose a vision-language model, or use "
                                "rows without images"]
    assert len(load_sft(job(vision)).train) == 3


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path):
    png(tmp_path / "ok.png")
    (tmp_path / "fake.png").write_text("text")
    png(tmp_path / "big.png", size=(64, 64))
    rows = [
        {"messages": ask(), "images": ["ok.png"]},
        {"messages": ask(), "images": ["gone.png"]},
        {"messages": ask(), "images": ["fake.png"]},
        {"messages": ask(), "images": ["ok.png", "ok.png"]},
        {"messages": ask(), "images": ["big.png"]},
        {"messages": ask(), "images": ["http://example.com/x.png"]},
    ]
    data = write_jsonl(tmp_path / "data.jsonl", rows)
    lines = problems_of(spec_for(str(data), max_image_pixels=1024))
    expected = ["not found", "is not an image", "1 <image> tag but 2 images", "max_image_pixels", "web address"]
    assert len(lines) == len(expected), lines
    for n, (line, words) in enumerate(zip(lines, expected, strict=True), start=2):
        assert line.startswith(f"{data}:{n}: ") and words in line, line


def test_the_three_row_forms_normalise_to_one_layout_with_absolute_paths(tmp_path: Path):
    image = png(tmp_path / "img" / "0001.png")
    url = "data:image/png;base64," + base64.b64encode(image.read_bytes()).decode()
    question = "What colour is the square?"
    rows = {
        "messages": {"messages": ask("<image>" + question), "images": ["img/0001.png"]},
        "sharegpt": {"conversations": [{"from": "human", "value": "<image>" + question},
                                       {"from": "gpt", "value": "red"}], "images": ["img/0001.png"]},
        "parts": {"messages": [{"role": "user", "content": [{"type": "image", "image": str(image)},
                                                            {"type": "text", "text": question}]}, ANSWER]},
        "image_url": {"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "img/0001.png"}}, {"type": "text", "text": question}]}, ANSWER]},
        "placeholder": {"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]},
                                     ANSWER], "images": [str(image)]},
    }
    expected = {
        "messages": [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]},
            {"role": "assistant", "content": [{"type": "text", "text": "red"}]},
        ],
        "images": [str(image.resolve())],
    }
    for name, row in rows.items():
        data = load_sft(spec_for(str(write_jsonl(tmp_path / f"{name}.jsonl", [row]))))
        assert data.images and data.train == [expected], name
    fmt = {n: preview(str(tmp_path / f"{n}.jsonl")).format for n in ("messages", "sharegpt", "parts")}
    assert fmt == {"messages": "messages + images", "sharegpt": "sharegpt + images", "parts": "messages + images"}
    inline = load_sft(spec_for(str(write_jsonl(tmp_path / "inline.jsonl", [{"messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": question}]},
        ANSWER]}]))))
    assert inline.train[0]["images"] == [url]  # TRL's load_image reads data: URLs as they are


def test_preference_rows_with_images_normalise_to_one_layout(tmp_path: Path):
    image = png(tmp_path / "a.png")
    rows = [
        {"prompt": "<image>What colour?", "chosen": "red", "rejected": "blue", "images": ["a.png"]},
        {"messages": [{"role": "user", "content": "<image>What colour?"}, ANSWER], "rejected_response": "blue",
         "images": ["a.png"]},
        {"prompt": [{"role": "user", "content": [{"type": "image_url", "image_url": str(image)},
                                                 {"type": "text", "text": "What colour?"}]}],
         "chosen": "red", "rejected": "blue"},
    ]
    data = write_jsonl(tmp_path / "pref.jsonl", rows)
    spec = JobSpec.model_validate({"name": "t", "task": "dpo", "model": {"id": "m", "hub": "local"},
                                   "dataset": {"preference": str(data)}})
    loaded = load_preference(spec)
    expected = {
        "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour?"}]}],
        "chosen": [{"role": "assistant", "content": [{"type": "text", "text": "red"}]}],
        "rejected": [{"role": "assistant", "content": [{"type": "text", "text": "blue"}]}],
        "images": [str(image)],
    }
    assert loaded.images and loaded.format == "dpo" and loaded.train == [expected] * 3
    assert preview(str(data)).format == "dpo + images"
    assert all(r["images"] == [str(image)] for r in to_unpaired(loaded.train))


def test_prompt_completion_keeps_the_images_and_puts_only_the_last_answer_in_the_completion(tmp_path: Path):
    png(tmp_path / "a.png")
    row = {"messages": [{"role": "system", "content": "Be brief."}, *ask()], "images": ["a.png"]}
    data = load_sft(spec_for(str(write_jsonl(tmp_path / "d.jsonl", [row]))))
    (pc,) = to_prompt_completion(data.train)
    assert [m["role"] for m in pc["prompt"]] == ["system", "user"]
    assert pc["completion"] == [{"role": "assistant", "content": [{"type": "text", "text": "red"}]}]
    assert pc["images"] == [str(tmp_path / "a.png")]


def test_text_rows_beside_image_rows_get_the_same_layout_and_text_only_data_is_unchanged(tmp_path: Path):
    png(tmp_path / "a.png")
    plain = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    mixed = load_sft(spec_for(str(write_jsonl(tmp_path / "m.jsonl", [{"messages": ask(), "images": ["a.png"]},
                                                                       {"messages": plain}]))))
    assert sorted(len(r["images"]) for r in mixed.train) == [0, 1]
    assert all(isinstance(m["content"], list) for r in mixed.train for m in r["messages"])
    text = load_sft(spec_for(str(write_jsonl(tmp_path / "t.jsonl", [{"messages": plain}]))))
    assert not text.images and text.format == "messages" and text.train == [plain]


def test_a_csv_images_cell_holds_a_json_list_or_one_path(tmp_path: Path):
    png(tmp_path / "a.png")
    png(tmp_path / "b.png")
    (tmp_path / "d.csv").write_text(
        'instruction,output,images\n'
        '"<image><image>Same colour?",yes,"[""a.png"", ""b.png""]"\n'
        '<image>Colour?,red,a.png\n', encoding="utf-8")
    data = load_sft(spec_for(str(tmp_path / "d.csv")))
    assert data.format == "alpaca + images"
    assert sorted(len(r["images"]) for r in data.train) == [1, 2]
