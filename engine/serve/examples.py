"""Ready-to-paste client examples. The key appears only as $NAME_OF_THE_VARIABLE, never its value."""

from __future__ import annotations

import json

from .settings import ServeSettings


def curl_example(settings: ServeSettings, auth: bool) -> str:
    body = json.dumps(
        {"model": settings.served_name, "messages": [{"role": "user", "content": "Hello! Who are you?"}],
         "max_tokens": 64}, ensure_ascii=False,
    )
    lines = [f"curl {settings.url}/v1/chat/completions \\", '  -H "Content-Type: application/json" \\']
    if auth:
        lines.append(f'  -H "Authorization: Bearer ${settings.api_key_env}" \\')
    lines.append(f"  -d '{body}'")
    return "\n".join(lines)


def openai_example(settings: ServeSettings, auth: bool) -> str:
    key = f'os.environ["{settings.api_key_env}"]' if auth else '"none"'
    return "\n".join([
        "import os" if auth else "",
        "from openai import OpenAI",
        f'client = OpenAI(base_url="{settings.url}/v1", api_key={key})',
        "reply = client.chat.completions.create(",
        f'    model="{settings.served_name}",',
        '    messages=[{"role": "user", "content": "Hello! Who are you?"}],',
        "    max_tokens=64,",
        ")",
        "print(reply.choices[0].message.content)",
    ]).lstrip("\n")


def image_example(settings: ServeSettings, auth: bool) -> str:
    """A vision model's question about a local picture, sent inline as a base64 data URL (the server reads no files)."""
    key = f'os.environ["{settings.api_key_env}"]' if auth else '"none"'
    return "\n".join([
        "import base64, os",
        "from openai import OpenAI",
        f'client = OpenAI(base_url="{settings.url}/v1", api_key={key})',
        'image = "data:image/png;base64," + base64.b64encode(open("picture.png", "rb").read()).decode()',
        "reply = client.chat.completions.create(",
        f'    model="{settings.served_name}",',
        '    messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}},',
        '                                           {"type": "text", "text": "What is in this picture?"}]}],',
        "    max_tokens=64,",
        ")",
        "print(reply.choices[0].message.content)",
    ])


def ready_text(settings: ServeSettings, auth: bool) -> str:
    from .multimodal import is_vision_folder

    guard = f"API key required (from ${settings.api_key_env})" if auth else "no API key"
    lines = [
        f"serving {settings.model_dir} as '{settings.served_name}' at {settings.url}/v1 ({settings.backend}; {guard})",
        "try it with curl:",
        curl_example(settings, auth),
        "or with the openai Python client:",
        openai_example(settings, auth),
    ]
    if is_vision_folder(settings.model_dir):
        lines += ["with an image (PNG, JPEG or WebP, inline as a data: URL):", image_example(settings, auth)]
    return "\n".join(lines)
