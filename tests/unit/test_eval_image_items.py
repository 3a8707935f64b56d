"""Held-out image rows as eval items: pictures carried in the prompt, in order, handed to a template as bare
placeholders, removable for the blind check; eval.dataset with images is checked like training data."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest

from engine.errors import UserError
from engine.eval.benchmarks import load_all, supervised_items
from engine.eval.image_items import content_text, image_refs, split, without_images
from engine.spec import JobSpec

ROW = {"messages": [
    {"role": "system", "content": "Answer in one word."},
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Left, then "}, {"type": "image"},
                                 {"type": "text", "text": "right: which is red?"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "left"}]}],
    "images": ["/data/a.png", "/data/b.png"]}


def test_an_image_row_becomes_an_item_whose_prompt_carries_its_pictures_in_order():
    (item,) = supervised_items([ROW, {"messages": [ROW["messages"][2]], "images": []}], "rows.jsonl")
    assert item.reference == "left" and item.id == "1" and len(item.prompt) == 2
    assert image_refs(item.prompt) == ["/data/a.png", "/data/b.png"]
    assert content_text(item.prompt[1]["content"]) == "<image>Left, then <image>right: which is red?"
    template, refs = split(item.prompt)
    assert refs == ["/data/a.png", "/data/b.png"]
    assert template[0] == {"role": "system", "content": [{"type": "text", "text": "Answer in one word."}]}
    assert [p for p in template[1]["content"] if p["type"] == "image"] == [{"type": "image"}] * 2  # no paths
    blind = without_images(item.prompt)
    assert image_refs(blind) == [] and content_text(blind[1]["content"]) == "Left, then right: which is red?"
    assert image_refs(item.prompt) == ["/data/a.png", "/data/b.png"], "the item itself is left as it was"


def _job(model: str, sft: str) -> JobSpec:
    return JobSpec.model_validate({"name": "x", "task": "sft", "model": {"id": model}, "dataset": {"sft": sft},
                                   "eval": {"dataset": "shapes-vqa-heldout", "benchmarks": [], "limit": 4}})


def test_eval_dataset_with_images_gives_held_out_items_with_their_pictures():
    (held,) = load_all(_job("Qwen/Qwen2-VL-2B-Instruct", "shapes-vqa"))
    assert held.name == "held-out" and held.kind == "heldout" and len(held.items) == 4
    for item in held.items:
        (ref,) = image_refs(item.prompt)
        assert Path(ref).is_absolute() and Path(ref).is_file() and item.reference


def test_eval_dataset_with_images_for_a_text_model_stops_before_any_model_loads():
    with pytest.raises(UserError) as info:
        load_all(_job("Qwen/Qwen2.5-0.5B-Instruct", "self-cognition"))
    assert "heldout.jsonl:1:" in info.value.lines[0] and "text-only model" in info.value.lines[0]


def test_preference_pairs_with_images_keep_their_pictures():
    spec = JobSpec.model_validate({"name": "x", "task": "dpo", "model": {"id": "Qwen/Qwen2-VL-2B-Instruct"},
                                   "dataset": {"preference": "shapes-vqa-preference"},
                                   "eval": {"dataset": "shapes-vqa-preference", "benchmarks": [], "limit": 3}})
    (pairs,) = load_all(spec)
    assert pairs.kind == "preference" and len(pairs.items) == 3
    for item in pairs.items:
        assert len(image_refs(item.prompt)) == 1 and item.reference and item.rejected
        assert item.reference != item.rejected


def test_open_image_reads_paths_and_data_urls_as_rgb_and_scales_down_past_the_bound(tmp_path: Path):
    from PIL import Image

    from engine.data.images import open_image

    path = tmp_path / "big.png"
    Image.new("RGBA", (400, 100), (255, 0, 0, 255)).save(path)
    small = open_image(str(path), max_pixels=10_000)
    assert small.mode == "RGB" and small.size[0] * small.size[1] <= 10_000 and small.size == (200, 50)
    assert open_image(str(path)).size == (400, 100)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 0, 255)).save(buf, "PNG")
    picture = open_image("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())
    assert picture.getpixel((0, 0)) == (0, 0, 255)
