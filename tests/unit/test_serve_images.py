"""Images in chat requests without a model: decoding, every limit, the URL rules, and the settings' plumbing."""

from __future__ import annotations

import argparse
import http.server
import json
import threading
from pathlib import Path

import pytest

from engine.errors import UserError
from engine.serve.images import ImageLimits, gather, refuse_images
from engine.serve.multimodal import is_vision_folder
from engine.serve.protocol import ApiError, ChatRequest, parse_request
from engine.serve.settings import ServeSettings
from engine.serve.vllm import vllm_command
from tests.helpers.vlm import data_url, image_bytes, image_part

LIMITS = ImageLimits(max_bytes=50_000, max_pixels=200 * 200, max_images=3)


def messages(*content: dict | str, role: str = "user"):
    body = {"messages": [{"role": role, "content": list(content) if not isinstance(content[0], str) else content[0]}]}
    return parse_request(ChatRequest, json.dumps(body).encode()).messages


def refused(call, *args) -> ApiError:
    with pytest.raises(ApiError) as info:
        call(*args)
    return info.value


def test_png_jpeg_and_webp_parts_become_rgb_images_in_order_and_image_placeholders():
    red, blue, green = (220, 30, 30), (20, 40, 230), (10, 200, 20)
    msgs = messages(image_part(data_url(image_bytes(red))), {"type": "text", "text": "and"},
                    image_part(data_url(image_bytes(blue, fmt="JPEG"), "image/jpeg")),
                    image_part(data_url(image_bytes(green, (32, 16), fmt="WEBP"), "image/webp")))
    template, images = gather(msgs, LIMITS)
    assert template == [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "and"},
                                                     {"type": "image"}, {"type": "image"}]}]
    assert [im.mode for im in images] == ["RGB"] * 3
    assert images[0].getpixel((5, 5)) == red and images[2].size == (32, 16)
    assert max(abs(a - b) for a, b in zip(images[1].getpixel((5, 5)), blue, strict=True)) < 12  # JPEG is lossy


def test_text_only_messages_pass_through_unchanged():
    template, images = gather(messages("hello"), LIMITS)
    assert template == [{"role": "user", "content": "hello"}] and images == []


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        (data_url(b"\0" * 60_000), 413, "image_too_large"),
        (data_url(image_bytes(size=(201, 200))), 400, "image_too_large"),
        (data_url(b"this is not an image"), 400, "invalid_image"),
        (data_url(image_bytes()[:80]), 400, "invalid_image"),  # a truncated PNG
        ("data:image/png;base64,@@not base64@@", 400, "invalid_image"),
        (data_url(image_bytes(fmt="GIF"), "image/gif"), 400, "invalid_image_format"),
        (data_url(image_bytes(fmt="GIF")), 400, "invalid_image_format"),  # the bytes decide, not the label
        ("data:image/png,rawbytes", 400, "invalid_image_url"),
        ("file:///etc/passwd", 400, "invalid_image_url"),
        ("/etc/passwd", 400, "invalid_image_url"),
        ("img/0001.png", 400, "invalid_image_url"),
        ("ftp://example.com/a.png", 400, "invalid_image_url"),
        ("http://example.com/a.png", 400, "remote_image_refused"),
        ("https://example.com/a.png", 400, "remote_image_refused"),
    ],
)
def test_each_bad_image_is_refused_with_its_status_and_the_part_it_names(url: str, status: int, code: str):
    msgs = messages({"type": "text", "text": "look"}, image_part(data_url(image_bytes())), image_part(url))
    err = refused(gather, msgs, LIMITS)
    assert (err.status, err.code, err.param) == (status, code, "messages[0].content[2].image_url")


def bomb_png(width: int, height: int) -> bytes:
    """A real 8×8 PNG whose header claims width×height: what a decompression bomb looks like before decoding."""
    import struct
    import zlib

    png = bytearray(image_bytes(size=(8, 8)))
    ihdr = bytes(png[12:16]) + struct.pack(">II", width, height) + bytes(png[24:29])
    png[16:24] = struct.pack(">II", width, height)
    png[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(png)


@pytest.mark.parametrize("size", [(201, 200), (100_000, 100_000), (2**31 - 1, 2**31 - 1)])
def test_an_image_over_the_pixel_limit_is_refused_from_its_header_before_decoding(size: tuple[int, int]):
    err = refused(gather, messages(image_part(data_url(bomb_png(*size)))), LIMITS)
    assert (err.status, err.code) == (400, "image_too_large")


def test_a_remote_url_is_refused_with_the_setting_that_would_allow_it():
    err = refused(gather, messages(image_part("https://example.com/cat.png")), LIMITS)
    assert "deploy.allow_remote_images" in err.message and "--allow-remote-images" in err.message


def test_allowing_remote_images_still_never_fetches_from_this_machines_network():
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(image_bytes())

        def log_message(self, *args) -> None:
            pass

    local = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=local.serve_forever, daemon=True).start()
    try:
        allowed = ImageLimits(50_000, 200 * 200, 3, allow_remote=True)
        for host in (f"127.0.0.1:{local.server_port}", f"localhost:{local.server_port}", "169.254.169.254", "10.0.0.1"):
            err = refused(gather, messages(image_part(f"http://{host}/a.png")), allowed)
            assert err.code == "remote_image_refused" and "public addresses only" in err.message, host
        assert refused(gather, messages(image_part("file:///etc/passwd")), allowed).code == "invalid_image_url"
    finally:
        local.shutdown()
    assert hits == []


def test_more_images_than_allowed_is_400_naming_the_first_one_over():
    one = image_part(data_url(image_bytes()))
    msgs = parse_request(ChatRequest, json.dumps({"messages": [
        {"role": "user", "content": [one, one]}, {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "and"}, one, one]}]}).encode()).messages
    err = refused(gather, msgs, LIMITS)
    assert (err.status, err.code, err.param) == (400, "too_many_images", "messages[2].content[2]")


def test_images_only_in_user_messages():
    err = refused(gather, messages(image_part(data_url(image_bytes())), role="assistant"), LIMITS)
    assert err.status == 400 and err.param == "messages[0].content[0]"


def test_a_text_only_model_refuses_images_and_says_so():
    refuse_images(messages("hi", ), "tiny")  # text is fine
    refuse_images(messages({"type": "text", "text": "a"}, {"type": "text", "text": "b"}), "tiny")
    err = refused(refuse_images, messages({"type": "text", "text": "a"}, image_part(data_url(image_bytes()))), "tiny")
    assert err.status == 400 and err.param == "messages[0].content[1]" and err.code == "images_not_supported"
    assert "text only" in err.message


def test_malformed_parts_name_the_nested_parameter():
    body = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": 5}}]}]}
    err = refused(parse_request, ChatRequest, json.dumps(body).encode())
    assert err.status == 422 and err.param == "messages[0].content[0].image_url.url"
    body = {"messages": [{"role": "user", "content": [{"type": "image", "image": "/etc/passwd"}]}]}
    assert refused(parse_request, ChatRequest, json.dumps(body).encode()).param == "messages[0].content[0]"


def _folder(tmp_path: Path, name: str, config: dict, **files: dict) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    for file, data in files.items():
        (folder / f"{file}.json").write_text(json.dumps(data))
    return folder


def test_vision_folders_are_told_from_text_folders(tmp_path: Path):
    assert is_vision_folder(_folder(tmp_path, "qwen", {"architectures": ["Qwen2VLForConditionalGeneration"],
                                                       "vision_config": {"depth": 2}}))
    assert is_vision_folder(_folder(tmp_path, "llava-type", {"model_type": "llava"}))
    assert is_vision_folder(_folder(tmp_path, "llava", {"architectures": ["LlavaForConditionalGeneration"]},
                                    preprocessor_config={"image_processor_type": "CLIPImageProcessor"}))
    assert not is_vision_folder(_folder(tmp_path, "t5", {"architectures": ["T5ForConditionalGeneration"]}))
    assert not is_vision_folder(_folder(tmp_path, "llama", {"architectures": ["LlamaForCausalLM"]}))
    assert not is_vision_folder(tmp_path / "missing")


def test_vllm_gets_the_image_limit_for_a_vision_folder_only(tmp_path: Path):
    vlm = _folder(tmp_path, "vlm", {"architectures": ["Qwen2VLForConditionalGeneration"], "vision_config": {}})
    argv = vllm_command(ServeSettings(model_dir=vlm, served_name="v", max_images=3), executable=["vllm"])
    assert argv[:3] == ["vllm", "serve", str(vlm)]
    assert json.loads(argv[argv.index("--limit-mm-per-prompt") + 1]) == {"image": 3}
    text = _folder(tmp_path, "text", {"architectures": ["LlamaForCausalLM"]})
    assert "--limit-mm-per-prompt" not in vllm_command(ServeSettings(model_dir=text, served_name="t"),
                                                       executable=["vllm"])


def _serve_args(model_dir: Path, *flags: str) -> argparse.Namespace:
    from engine.commands import serve

    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    return parser.parse_args([str(model_dir), *flags])


def test_serve_flags_reach_the_settings_and_bad_values_name_the_flag(tmp_path: Path):
    from engine.commands.serve import settings_from_args

    folder = _folder(tmp_path, "m", {"architectures": ["LlamaForCausalLM"]})
    plain = settings_from_args(_serve_args(folder))
    assert (plain.allow_remote_images, plain.max_images) == (False, 4)
    settings = settings_from_args(_serve_args(folder, "--allow-remote-images", "--max-image-bytes", "4096",
                                              "--max-image-pixels", "10000", "--max-images", "2"))
    assert (settings.allow_remote_images, settings.max_image_bytes, settings.max_image_pixels,
            settings.max_images) == (True, 4096, 10000, 2)
    with pytest.raises(UserError) as info:
        settings_from_args(_serve_args(folder, "--max-images", "0"))
    assert info.value.lines[0].startswith("--max-images:")


def test_the_deploy_stage_passes_the_image_settings_to_the_server_it_starts(tmp_path: Path):
    from engine.render import spec_from_mapping
    from engine.stages.deploy import _server_argv, _settings

    job = {"name": "vis", "task": "deploy", "model": {"id": str(tmp_path), "hub": "local"},
           "deploy": {"allow_remote_images": True, "max_images": 2, "max_image_bytes": 2048, "max_image_pixels": 900}}
    spec = spec_from_mapping(job, "job.yaml")
    argv = _server_argv(_settings(spec, tmp_path, "builtin"), 60)
    assert "--allow-remote-images" in argv
    assert [argv[argv.index(f) + 1] for f in ("--max-images", "--max-image-bytes", "--max-image-pixels")] == \
        ["2", "2048", "900"]
    parsed = _serve_args(tmp_path, *argv[5:])  # after `python -m engine serve DIR`: the serve command reads them back
    assert (parsed.allow_remote_images, parsed.max_images, parsed.max_image_bytes, parsed.max_image_pixels) == \
        (True, 2, 2048, 900)
    default = spec_from_mapping({**job, "deploy": {}}, "job.yaml")
    assert "--allow-remote-images" not in _server_argv(_settings(default, tmp_path, "builtin"), 60)


def test_a_vision_server_takes_bodies_big_enough_for_its_images():
    settings = ServeSettings(model_dir=Path("m"), served_name="m", max_body_bytes=1000, max_image_bytes=3000,
                             max_images=2)
    assert settings.body_limit(vision=False) == 1000
    assert settings.body_limit(vision=True) == 1000 + 2 * 4000
