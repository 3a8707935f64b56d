"""English and 简体中文 for every label and help text, chosen from LANG or toggled at run time.

In English a field's help is the JobSpec description itself, so it can never drift from what the
engine documents in the YAML comments; Chinese help lives in zh.py (a test checks it covers every
field). A missing Chinese text falls back to English rather than showing a key.
"""

from __future__ import annotations

import os

from . import en, zh

LANGS = ("en", "zh")
_TABLES = {"en": en, "zh": zh}
_current = "en"


def detect(env: dict[str, str] | None = None) -> str:
    """zh for a Chinese locale (LANG/LC_ALL/LC_MESSAGES zh_*), en otherwise; YCDY_LANG overrides."""
    env = os.environ if env is None else env
    forced = env.get("YCDY_LANG", "").lower()
    if forced in LANGS:
        return forced
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def set_lang(lang: str) -> None:
    global _current
    _current = lang if lang in LANGS else "en"


def lang() -> str:
    return _current


def toggle() -> str:
    set_lang("zh" if _current == "en" else "en")
    return _current


def t(key: str, **values: object) -> str:
    text = _TABLES[_current].UI.get(key) or en.UI.get(key) or key
    return text.format(**values) if values else text


def label(path: str) -> str:
    table = _TABLES[_current].LABELS
    if path in table:
        return table[path]
    if path in en.LABELS:
        return en.LABELS[path]
    return path.rsplit(".", 1)[-1].replace("_", " ")


def help_text(path: str) -> str:
    if _current != "en" and path in zh.HELP:
        return zh.HELP[path]
    if path in en.HELP:
        return en.HELP[path]
    from .. import schema

    try:
        return schema.meta(path).description
    except (KeyError, AssertionError):
        return ""


def choice(path: str, value: str) -> str:
    """A choice's display name (tasks have friendly names; other choices show their value)."""
    key = f"choice.{path}.{value}"
    text = t(key)
    return value if text == key else text


def explain(path: str, value: str) -> str:
    key = f"explain.{path.rsplit('.', 1)[-1]}.{value}"
    text = t(key)
    return "" if text == key else text
