"""Generate the built-in image sets (shapes-vqa, its held-out part and a DPO variant) reproducibly.

Multimodal fine-tuning must work offline on a first run, so the project ships its own images:
coloured shapes on white, with questions and answers in English and Chinese. Everything is drawn
from a fixed seed without anti-aliasing, so each PNG holds exactly two colours (a few hundred
bytes as a palette image) and a test can check that the answer names the colour on the pixels.

Run from the repository root to rebuild the files next to this script:
    .venv/bin/python -m engine.data.builtin.make_images
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "shapes-vqa"
SEED = 20261206
SIZE = 64  # pixels a side: above Qwen2-VL's 56×56 minimum, small enough to cost a few image tokens
TRAIN, HELDOUT, PREFERENCE = 240, 60, 60
BACKGROUND = (255, 255, 255)

# name → (RGB, Chinese name); far apart in colour so a resized or JPEG-ed copy stays unambiguous.
COLOURS: dict[str, tuple[tuple[int, int, int], str]] = {
    "red": ((220, 40, 40), "红色"),
    "green": ((40, 160, 60), "绿色"),
    "blue": ((40, 90, 220), "蓝色"),
    "yellow": ((240, 200, 20), "黄色"),
    "purple": ((140, 60, 180), "紫色"),
    "orange": ((250, 130, 20), "橙色"),
}
SHAPES = {"square": "正方形", "circle": "圆形", "triangle": "三角形"}
COLOUR_Q = {
    "en": ["What colour is the {shape}?", "What is the colour of the {shape} in the picture?",
           "Which colour is the {shape}? Answer with one word."],
    "zh": ["图中的{shape}是什么颜色？", "这个{shape}是什么颜色的？", "请用一个词回答：{shape}的颜色是什么？"],
}
SHAPE_Q = {
    "en": ["What shape is shown?", "What shape is in the picture? Answer with one word."],
    "zh": ["图中是什么形状？", "请用一个词回答：图里画的是什么形状？"],
}


def draw(colour: str, shape: str, rng: random.Random) -> object:
    """One 64×64 two-colour palette image: the shape at a random size and place, fully inside."""
    from PIL import Image, ImageDraw

    side = rng.randint(28, 52)
    x, y = rng.randint(2, SIZE - side - 2), rng.randint(2, SIZE - side - 2)
    image = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    pen = ImageDraw.Draw(image)
    fill = COLOURS[colour][0]
    box = (x, y, x + side - 1, y + side - 1)
    if shape == "square":
        pen.rectangle(box, fill=fill)
    elif shape == "circle":
        pen.ellipse(box, fill=fill)
    else:
        pen.polygon([(x + side // 2, y), (x, y + side - 1), (x + side - 1, y + side - 1)], fill=fill)
    return image.quantize(colors=2, method=Image.Quantize.MAXCOVERAGE)


def question(colour: str, shape: str, lang: str, rng: random.Random) -> tuple[str, str]:
    """A colour question two times in three, else a shape question; the answer is one word."""
    if rng.random() < 2 / 3:
        text = rng.choice(COLOUR_Q[lang]).format(shape=shape if lang == "en" else SHAPES[shape])
        return text, colour if lang == "en" else COLOURS[colour][1]
    return rng.choice(SHAPE_Q[lang]), shape if lang == "en" else SHAPES[shape]


def build(part: str, count: int, rng: random.Random) -> list[dict[str, object]]:
    """`count` rows of one part, their images written to images/<part>-NNNN.png (balanced colours)."""
    rows = []
    colours = [c for _ in range(count // len(COLOURS) + 1) for c in COLOURS][:count]
    rng.shuffle(colours)
    for i, colour in enumerate(colours, start=1):
        shape = rng.choice(list(SHAPES))
        lang = "en" if i % 2 else "zh"
        name = f"images/{part}-{i:04d}.png"
        draw(colour, shape, rng).save(OUT / name, optimize=True)  # type: ignore[attr-defined]
        text, answer = question(colour, shape, lang, rng)
        rows.append({
            "messages": [{"role": "user", "content": "<image>" + text}, {"role": "assistant", "content": answer}],
            "images": [name], "lang": lang, "colour": colour, "shape": shape,
        })
    return rows


def preference(rows: list[dict[str, object]], rng: random.Random) -> list[dict[str, object]]:
    """DPO pairs on the first training images: the right colour (chosen) against a wrong one (rejected)."""
    out = []
    for row in rows[:PREFERENCE]:
        colour, shape, lang = str(row["colour"]), str(row["shape"]), str(row["lang"])
        wrong = rng.choice([c for c in COLOURS if c != colour])
        text = COLOUR_Q[lang][0].format(shape=shape if lang == "en" else SHAPES[shape])
        pick = (lambda c: c) if lang == "en" else (lambda c: COLOURS[c][1])
        out.append({"prompt": "<image>" + text, "chosen": pick(colour), "rejected": pick(wrong),
                    "images": row["images"], "lang": lang})
    return out


def write(name: str, rows: list[dict[str, object]]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (OUT / name).write_text(text, encoding="utf-8")


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "images").mkdir(parents=True)
    rng = random.Random(SEED)
    train = build("train", TRAIN, rng)
    write("train.jsonl", train)
    write("heldout.jsonl", build("heldout", HELDOUT, rng))
    write("preference.jsonl", preference(train, rng))
    size = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"{OUT}: {TRAIN} train, {HELDOUT} held-out, {PREFERENCE} preference rows, {size // 1024} KB")


if __name__ == "__main__":
    main()
