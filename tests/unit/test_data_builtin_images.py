"""The built-in image sets: they load with no problems, their pictures are real PNGs showing the colour
and shape the answers name, the held-out part shares no picture with training, and the committed
script regenerates exactly the shipped files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from engine.data import preview
from engine.data.builtin import get, make_images
from engine.data.preference import load_preference
from engine.data.sft import load_sft
from engine.spec import JobSpec

SHIPPED = make_images.OUT
RGB = {name: rgb for name, (rgb, _) in make_images.COLOURS.items()}
ZH = {zh: name for name, (_, zh) in make_images.COLOURS.items()} | {
    zh: name for name, zh in make_images.SHAPES.items()}


def raw(part: str) -> list[dict]:
    return [json.loads(line) for line in (SHIPPED / f"{part}.jsonl").read_text(encoding="utf-8").splitlines()]


def job(**dataset: str) -> JobSpec:
    task = "dpo" if "preference" in dataset else "sft"
    return JobSpec.model_validate({"name": "t", "task": task, "model": {"id": "m", "hub": "local"}, "dataset": dataset})


def test_the_image_sets_load_with_no_problems_as_messages_and_dpo_with_images():
    train, heldout = load_sft(job(sft="shapes-vqa")), load_sft(job(sft="shapes-vqa-heldout"))
    pref = load_preference(job(preference="shapes-vqa-preference"))
    assert (train.format, len(train.train), train.images) == ("messages + images", 240, True)
    assert (heldout.format, len(heldout.train)) == ("messages + images", 60)
    assert (pref.format, pref.images, len(pref.train)) == ("dpo", True, 60)
    assert all(Path(p).is_absolute() and Path(p).is_file() for r in train.train for p in r["images"])
    assert get("shapes-vqa").images and not get("self-cognition").images
    shown = preview("shapes-vqa")
    assert shown.format == "messages + images" and shown.problems == [] and shown.rows == 240


@pytest.mark.parametrize("part", ["train", "heldout"])
def test_every_picture_is_a_png_of_the_colour_and_shape_its_answer_names(part: str):
    rows = raw(part)
    for row in rows:
        path = SHIPPED / row["images"][0]
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = Image.open(path)
        assert image.format == "PNG" and image.size == (64, 64)
        colours = {rgb for _, rgb in image.convert("RGB").getcolors()}
        assert colours == {make_images.BACKGROUND, RGB[row["colour"]]}, path
        answer = row["messages"][1]["content"]
        assert ZH.get(answer, answer) in (row["colour"], row["shape"]), row
    assert {r["lang"] for r in rows} == {"en", "zh"}
    assert {r["colour"] for r in rows} == set(RGB) and {r["shape"] for r in rows} == set(make_images.SHAPES)


def test_held_out_pictures_are_not_training_pictures_and_the_set_is_small():
    train = {r["images"][0] for r in raw("train")}
    assert not train & {r["images"][0] for r in raw("heldout")}
    assert {r["images"][0] for r in raw("preference")} <= train
    size = sum(f.stat().st_size for f in SHIPPED.rglob("*") if f.is_file())
    assert size < 400_000


def test_the_committed_script_regenerates_the_shipped_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(make_images, "OUT", tmp_path / "shapes-vqa")
    make_images.main()
    made = sorted(p.relative_to(tmp_path / "shapes-vqa") for p in (tmp_path / "shapes-vqa").rglob("*") if p.is_file())
    shipped = sorted(p.relative_to(SHIPPED) for p in SHIPPED.rglob("*") if p.is_file())
    assert made == shipped
    assert all((tmp_path / "shapes-vqa" / p).read_bytes() == (SHIPPED / p).read_bytes() for p in made)
