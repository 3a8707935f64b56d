"""Tiny random vision-language models: built offline, reloaded through AutoProcessor +
AutoModelForImageTextToText, an image reaches the forward pass, and training's helpers (processor
bounds, freezing, LoRA targets) act on the language model only."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.tiny_vlm import FAMILIES, FAMILY, build_tiny_vlm, check_ids

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=FAMILIES)
def vlm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    family = request.param
    return family, build_tiny_vlm(tmp_path_factory.mktemp("vlm") / family, family)


def _spec(max_pixels: int | None = None) -> SimpleNamespace:
    return SimpleNamespace(model=SimpleNamespace(trust_remote_code=False),
                           dataset=SimpleNamespace(max_image_pixels=max_pixels))


def _model(path: Path):
    from engine.hardware import detect
    from engine.training.loading import load_vision_model

    return load_vision_model(path, _spec(), detect(), "fp32")


def _rows(processor, image_size: int = 64):
    from PIL import Image

    image = Image.new("RGB", (image_size, image_size), (255, 0, 0))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour is it?"}]},
                {"role": "assistant", "content": "red"}]
    text = processor.apply_chat_template(messages, tokenize=False)
    return processor(text=[text], images=[[image]], return_tensors="pt")


def test_a_tiny_vlm_reloads_and_runs_a_forward_pass_with_an_image(vlm):
    import torch

    family, path = vlm
    from engine.training.loading import is_vision_dir, load_processor

    assert is_vision_dir(path)
    processor = load_processor(path, _spec())
    model = _model(path)
    assert type(model).__name__.endswith("ForConditionalGeneration")
    batch = _rows(processor)
    image_id = model.config.image_token_id
    assert image_id == processor.image_token_id and (batch["input_ids"] == image_id).sum() >= 4
    out = model(**batch, labels=batch["input_ids"])
    assert torch.isfinite(out.loss) and out.logits.shape[1] == batch["input_ids"].shape[1]
    blank = dict(batch, pixel_values=torch.zeros_like(batch["pixel_values"]))
    assert not torch.allclose(model(**blank).logits, out.logits)  # the pixels reach the logits


def test_token_ids_survive_save_and_reload(vlm, tmp_path):
    family, path = vlm
    from engine.training.loading import load_processor

    tokens = json.loads((path / "tokenizer.json").read_text())["added_tokens"]
    saved = {t["content"]: t["id"] for t in tokens}
    processor = load_processor(path)
    for token in FAMILY[family].specials:
        assert processor.tokenizer.convert_tokens_to_ids(token) == saved[token]
    text = "<|im_start|>user\nred green blue 你好" + FAMILY[family].image_token + "<|im_end|>"
    before = processor.tokenizer(text)["input_ids"]
    processor.save_pretrained(tmp_path / "again")
    for name in ("config.json", "model.safetensors"):
        (tmp_path / "again" / name).write_bytes((path / name).read_bytes())
    again = load_processor(tmp_path / "again")
    assert again.tokenizer(text)["input_ids"] == before and saved[FAMILY[family].image_token] in before
    ids = check_ids(tmp_path / "again")
    assert len(set(ids.values())) == 1


def test_the_chat_template_takes_strings_or_parts_and_marks_only_the_answer(vlm):
    family, path = vlm
    from engine.training.loading import load_processor

    tok = load_processor(path).tokenizer
    for content in ("What colour?", [{"type": "text", "text": "What colour?"}]):
        messages = [{"role": "user", "content": content}, {"role": "assistant", "content": "red"}]
        out = tok.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
        answer = [i for i, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
        assert tok.decode(answer) == "red<|im_end|>"
    parts = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Hi"}]}]
    assert FAMILY[family].image_token in tok.apply_chat_template(parts, tokenize=False, add_generation_prompt=True)


def test_freezing_leaves_only_the_language_model_trainable(vlm):
    family, path = vlm
    from engine.training.vision import freeze_vision, trainable_parts

    model = _model(path)
    frozen = freeze_vision(model, tower=True, projector=False)
    parts = trainable_parts(model)
    assert frozen["tower"] > 0 and frozen["projector"] == 0 and parts["tower"] == 0 and parts["projector"] > 0
    freeze_vision(model)
    parts = trainable_parts(model)
    assert parts["tower"] == parts["projector"] == 0 and parts["language"] > 0


def test_lora_targets_on_a_tiny_vlm_stay_out_of_the_vision_tower(vlm, tiny_model_session):
    from peft import LoraConfig, get_peft_model

    from engine.registry.targets import vision_part
    from engine.training.loading import model_type
    from engine.training.vision import lora_targets

    family, path = vlm
    for target in ("auto", "all-linear", ["q_proj", "v_proj"]):
        modules = lora_targets(target, path, model_type(path))
        model = get_peft_model(_model(path), LoraConfig(r=4, target_modules=modules, task_type="CAUSAL_LM"))
        adapted = [n for n, m in model.named_modules() if hasattr(m, "lora_A") and not n.endswith(("lora_A", "lora_B"))]
        assert adapted and all(vision_part(n) is None and "language_model" in n for n in adapted), adapted
    assert lora_targets("auto", tiny_model_session, "llama") == ["q_proj", "k_proj", "v_proj", "o_proj"]  # text: as before


def test_is_vision_dir_tells_a_tiny_vlm_from_the_tiny_text_model(vlm, tiny_model_session):
    from engine.registry import is_vision_model, resolve_local
    from engine.training.loading import is_vision_dir

    _, path = vlm
    assert is_vision_dir(path) and not is_vision_dir(tiny_model_session)
    info = resolve_local(path)
    assert info.modality == "vision" and info.status == "ready" and info.vision_b and is_vision_model(info)
    assert resolve_local(tiny_model_session).modality == "text"


def test_the_estimator_counts_the_tiny_vlms_vision_tower(vlm):
    from safetensors import safe_open

    from engine.shapes import count_params, shape_of, text_config

    _, path = vlm
    config = json.loads((path / "config.json").read_text())
    total = count_params(shape_of(config)).total
    text = count_params(shape_of(text_config(config))).total
    assert total > text
    with safe_open(path / "model.safetensors", "pt") as fh:
        exact = sum(math.prod(fh.get_slice(k).get_shape()) for k in fh.keys())
    assert total == pytest.approx(exact, rel=0.02)


def test_max_pixels_bounds_the_image_tokens_of_an_area_resizing_processor(tmp_path):
    from engine.training.loading import load_processor

    path = build_tiny_vlm(tmp_path / "q", "qwen2-vl")
    image_id = json.loads((path / "config.json").read_text())["image_token_id"]
    full = _rows(load_processor(path), image_size=112)
    small = _rows(load_processor(path, _spec(max_pixels=56 * 56)), image_size=112)
    assert (small["input_ids"] == image_id).sum() < (full["input_ids"] == image_id).sum()


def test_the_tiny_cli_builds_a_vision_model(tmp_path, cli):
    result = cli("tiny", str(tmp_path / "v"), "--vision", "internvl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "vision-language" in result.stdout and (tmp_path / "v" / "processor_config.json").is_file()
    assert json.loads((tmp_path / "v" / "config.json").read_text())["model_type"] == "internvl"


def test_a_4bit_vision_model_packs_the_language_model_only(tmp_path):
    import bitsandbytes as bnb

    from engine.hardware import detect
    from engine.registry.targets import vision_part
    from engine.training.loading import load_vision_model

    path = build_tiny_vlm(tmp_path / "q", "qwen2-vl")
    model = load_vision_model(path, _spec(), detect(), "bf16", "4bit")
    packed = [n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert packed and all(vision_part(n) is None and "language_model" in n for n in packed), packed
