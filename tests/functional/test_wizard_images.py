"""Image datasets in the wizard: the half-block thumbnail renderer draws the right colours, and the data
step's preview of the built-in image set says "messages + images" and shows its first pictures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image
from rich.color import Color
from rich.text import Text

from engine.data.builtin import make_images
from tests.functional.test_wizard import (  # noqa: F401  (steady is autouse)
    next_to,
    run,
    steady,
    type_into,
    until,
)
from wizard.app import WizardApp
from wizard.widgets.thumbnail import UPPER_HALF, half_blocks, side_by_side, thumbnail

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def cells(text: Text) -> list[list[tuple[str, Any, Any]]]:
    """Each line's cells as (character, foreground RGB, background RGB)."""
    out: list[list[tuple[str, Any, Any]]] = []
    for line in text.split("\n"):
        row = []
        for span in line.spans:
            for ch in line.plain[span.start:span.end]:
                style = span.style
                fg = style.color.get_truecolor() if style.color else None
                bg = style.bgcolor.get_truecolor() if style.bgcolor else None
                row.append((ch, tuple(fg) if fg else None, tuple(bg) if bg else None))
        out.append(row)
    return out


def test_a_two_by_two_image_is_one_line_of_two_cells_top_on_fg_bottom_on_bg():
    image = Image.new("RGB", (2, 2))
    image.putpixel((0, 0), RED)
    image.putpixel((1, 0), GREEN)
    image.putpixel((0, 1), BLUE)
    image.putpixel((1, 1), WHITE)
    assert cells(half_blocks(image, width=2, height=1)) == [[(UPPER_HALF, RED, BLUE), (UPPER_HALF, GREEN, WHITE)]]
    big = cells(half_blocks(image, width=16, height=8))  # enlarged to 16×16 pixels, colours kept
    assert len(big) == 8 and all(len(r) == 16 for r in big)
    assert big[0][0] == (UPPER_HALF, RED, RED) and big[7][15] == (UPPER_HALF, WHITE, WHITE)
    assert big[3][0] == (UPPER_HALF, RED, RED) and big[4][0] == (UPPER_HALF, BLUE, BLUE)


def test_a_wide_image_keeps_its_aspect_and_an_odd_last_pixel_row_has_no_background(tmp_path: Path):
    Image.new("RGB", (32, 6), RED).save(tmp_path / "wide.png")
    drawn = cells(thumbnail(str(tmp_path / "wide.png")))  # 16×3 pixels: two lines, the last half empty
    assert len(drawn) == 2 and len(drawn[0]) == 16
    assert drawn[1][0] == (UPPER_HALF, RED, None)
    assert "no thumbnail" in thumbnail(str(tmp_path / "missing.png")).plain
    strip = side_by_side([half_blocks(Image.new("RGB", (2, 2), RED), 2, 1)] * 2, ["1.", "2."])
    assert strip.plain.split("\n") == ["1.  2.", UPPER_HALF * 2 + "  " + UPPER_HALF * 2]


def test_the_data_step_previews_the_built_in_image_set_with_thumbnails():
    seen: dict[str, Any] = {}

    async def scenario(pilot: Any, app: WizardApp) -> None:
        await pilot.press("enter")
        await next_to(pilot, "data")
        await type_into(pilot, "dataset.sft", "shapes-vqa")
        await until(pilot, lambda: "messages + images" in str(app.screen.query_one("#preview").render()), timeout=15)
        seen["preview"] = str(app.screen.query_one("#preview").render())
        seen["thumbnails"] = app.screen.query_one("#thumbnails").render()
        await pilot.press("ctrl+q")

    run(WizardApp(), scenario)
    assert "format messages + images · 240 rows" in seen["preview"]
    assert "user: [image] What shape is shown? → assistant: circle" in seen["preview"]
    first = json.loads((make_images.OUT / "train.jsonl").read_text(encoding="utf-8").splitlines()[0])
    colour = Color.from_rgb(*make_images.COLOURS[first["colour"]][0]).get_truecolor()
    shown = seen["thumbnails"]  # what Textual renders: its Content, with Textual styles on the spans
    drawn = {tuple(c.rgb) for span in shown.spans for c in (span.style.foreground, span.style.background) if c}
    assert shown.plain.startswith("1.") and UPPER_HALF * 16 in shown.plain
    assert tuple(colour) in drawn and make_images.BACKGROUND in drawn
