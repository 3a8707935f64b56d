"""`demo --vision`: a tiny random VLM learns the built-in image set offline — held-out accuracy rises — and the
served 4-bit export answers an image question sent as a base64 data URL, by the demo and by the openai client."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from tests.helpers.vlm import data_url, image_part

pytestmark = pytest.mark.slow  # builds, trains, exports and serves a tiny VLM


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percent(label: str, text: str) -> int:
    found = re.search(re.escape(label) + r"\s+(\d+)%", text)
    assert found, f"{label!r} not printed:\n{text[-2500:]}"
    return int(found.group(1))


def test_demo_vision_raises_held_out_accuracy_and_the_served_model_answers_an_image(cli, tmp_path: Path):
    jobs = tmp_path / "jobs"
    env = {"YCDY_CACHE": str(tmp_path / "cache"), "YCDY_API_KEY": ""}
    result = cli("demo", "--vision", "--port", str(_free_port()), "--jobs-dir", str(jobs), "--ask", "2",
                 cwd=tmp_path, env=env, timeout=1500)
    job_dir = jobs / "demo-vision"
    try:
        out = result.stdout
        assert result.returncode == 0, (out + result.stderr)[-4000:]
        assert "TINY vision-language model built here from RANDOM weights" in out, "it says what it is"
        before = percent("before fine-tuning (random weights):", out)
        after = percent("after fine-tuning:", out)
        assert after > before, f"held-out accuracy did not rise: {before}% → {after}%"
        replies = re.findall(r"\[(?:right|WRONG)\] heldout-\d+\.png: .+ → '(.*)' \(expected .+\)", out)
        assert len(replies) == 2 and all(replies), "the served model answered each image question"
        assert re.search(r"served 4-bit export, via the API:\s+\d of 2 right", out)
        assert (job_dir / "export" / "config.json").is_file() and (job_dir / "serve.json").is_file()

        from openai import OpenAI

        from engine.serve import process

        record = process.read_record(job_dir)
        assert record is not None
        key = (job_dir / "api_key").read_text().strip()
        client = OpenAI(base_url=record["url"] + "/v1", api_key=key, max_retries=0)
        picture = next((Path(__file__).parents[2] / "engine/data/builtin/shapes-vqa/images").glob("heldout-*.png"))
        answer = client.chat.completions.create(
            model="demo-vision", max_tokens=4, temperature=0,
            messages=[{"role": "user", "content": [image_part(data_url(picture.read_bytes())),
                                                   {"type": "text", "text": "What colour is the circle?"}]}])
        assert answer.choices[0].message.content is not None
    finally:
        cli("stop", str(job_dir), cwd=tmp_path)
