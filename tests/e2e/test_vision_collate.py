"""The vision SFT collator (engine.training.vision_collate) on tiny VLMs' real processors: its batch is the
processor's own encoding of the same conversations and images, and its labels hold the final answer's
tokens and nothing else — no prompt, no earlier turn, no padding, no image placeholder."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.tiny_vlm import FAMILIES, build_tiny_vlm

pytestmark = pytest.mark.slow  # builds a tiny VLM per family (a few seconds each)

IGNORE = -100


@pytest.fixture(scope="module", params=FAMILIES)
def processor(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    from engine.training.loading import load_processor

    return load_processor(build_tiny_vlm(tmp_path_factory.mktemp("vlm") / request.param, request.param))


def image_file(folder: Path, name: str, size: tuple[int, int], colour: tuple[int, int, int]) -> str:
    from PIL import Image

    path = folder / f"{name}.png"
    Image.new("RGB", size, colour).save(path)
    return str(path)


def rows(folder: Path) -> list[dict]:
    """Prompt/completion rows as engine.data.multimodal.to_prompt_completion gives them: images of two sizes,
    an earlier assistant turn that must stay out of the loss, a row with two images, answers of different lengths."""
    from engine.data.images import to_parts
    from engine.data.multimodal import to_prompt_completion

    red = image_file(folder, "red", (64, 64), (220, 20, 20))
    wide = image_file(folder, "wide", (96, 48), (20, 20, 220))
    raw = [
        {"messages": [{"role": "user", "content": "<image>What colour is the square?"},
                      {"role": "assistant", "content": "red"}], "images": [red]},
        {"messages": [{"role": "user", "content": "<image>Describe it."},
                      {"role": "assistant", "content": "A blue rectangle, wider than it is tall."}], "images": [wide]},
        {"messages": [{"role": "user", "content": "<image>Colour?"}, {"role": "assistant", "content": "red"},
                      {"role": "user", "content": "And this one? <image>"},
                      {"role": "assistant", "content": "blue"}], "images": [red, wide]},
    ]
    return to_prompt_completion([{"messages": to_parts(r["messages"]), "images": r["images"]} for r in raw])


def processor_batch(processor, batch_rows: list[dict]) -> dict:
    """What the processor itself gives for the whole conversations and their images, in one call."""
    from PIL import Image

    texts = [processor.apply_chat_template(r["prompt"] + r["completion"], tokenize=False) for r in batch_rows]
    images = [[Image.open(p).convert("RGB") for p in r["images"]] for r in batch_rows]
    return processor(text=texts, images=images, return_tensors="pt", padding=True, padding_side="right",
                     add_special_tokens=False)


def test_the_batch_is_the_processors_own_output_for_the_same_rows(processor, tmp_path: Path):
    import torch

    from engine.training.vision_collate import VisionCollator

    batch_rows = rows(tmp_path)
    ours = VisionCollator(processor, max_length=None)(batch_rows)
    theirs = processor_batch(processor, batch_rows)
    assert set(theirs) | {"labels"} == set(ours)
    for name, value in theirs.items():
        assert ours[name].shape == value.shape, name
        assert torch.equal(ours[name], value), name
    assert (ours["input_ids"] == processor.image_token_id).sum() > 0 and ours["pixel_values"].abs().sum() > 0


def test_only_the_final_answers_tokens_are_in_the_loss(processor, tmp_path: Path):
    import torch

    from engine.training.vision_collate import VisionCollator, placeholder_ids

    batch_rows = rows(tmp_path)
    collator = VisionCollator(processor, max_length=None)
    first = collator(batch_rows)
    again = collator(batch_rows)  # the second epoch: texts, answer ids and decoded images kept from the first
    assert first.keys() == again.keys() and all(torch.equal(first[k], again[k]) for k in first)
    for batch in (first, again):
        tok = processor.tokenizer
        for ids, mask, labels, row in zip(batch["input_ids"], batch["attention_mask"], batch["labels"], batch_rows,
                                          strict=True):
            answer = row["completion"][0]["content"][0]["text"]
            head = processor.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
            whole = processor.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
            assert whole.startswith(head) and answer in whole[len(head):]
            learned = ids[labels != IGNORE]
            assert learned.tolist() == tok(whole[len(head):], add_special_tokens=False)["input_ids"]
            assert tok.decode(learned).strip() == answer + "<|im_end|>"
            length = int(mask.sum())
            scored = (labels != IGNORE).nonzero().flatten().tolist()
            assert scored == list(range(length - len(learned), length)), "one run of tokens at the end of the row"
            assert (labels[scored] == ids[scored]).all()
            assert not set(learned.tolist()) & placeholder_ids(processor)
        assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE).all()


def test_max_length_cuts_the_answer_but_never_an_image(processor, tmp_path: Path):
    import torch

    from engine.training.vision_collate import VisionCollator, placeholder_ids

    batch_rows = rows(tmp_path)[:2]
    full = VisionCollator(processor, max_length=None)(batch_rows)
    pixels = torch.tensor(sorted(placeholder_ids(processor)))
    last_image = int(torch.isin(full["input_ids"], pixels).any(0).nonzero().flatten()[-1])  # incl. end-of-image marks
    cut = VisionCollator(processor, max_length=last_image + 3)(batch_rows)
    assert cut["input_ids"].shape[1] == last_image + 3
    assert torch.equal(cut["input_ids"], full["input_ids"][:, : last_image + 3])
    assert torch.equal(cut["pixel_values"], full["pixel_values"])
    short = VisionCollator(processor, max_length=4)(batch_rows)
    assert short["input_ids"].shape[1] == last_image + 1, "too short for the image: the image is kept whole"
    assert (short["input_ids"] == processor.image_token_id).sum() == (full["input_ids"] == processor.image_token_id).sum()


def test_the_rows_texts_are_trls_own_rendering(processor, tmp_path: Path):
    from trl.data_utils import apply_chat_template, prepare_multimodal_messages

    from engine.training.vision_collate import texts

    for row in rows(tmp_path):
        example = {"prompt": prepare_multimodal_messages(row["prompt"], images=row["images"]),
                   "completion": prepare_multimodal_messages(row["completion"])}
        rendered = apply_chat_template(example, processor)
        assert texts(processor, row) == (rendered["prompt"], rendered["completion"])
