"""The identity probe: does the model name the identity the job taught it, on questions it never saw?

Built from the job's dataset.model_name / model_author (and the _zh variants). The questions are
paraphrases that the built-in self-cognition rows do not contain (a test checks this), so a model
that only memorised its training rows does not pass by rote.
"""

from __future__ import annotations

from typing import Any

from .items import Item

QUESTIONS_EN = (
    "Could you tell me who you are?",
    "Whom am I speaking with at the moment?",
    "Please state your name.",
    "Which assistant is this, and who made it?",
    "Give me a one-sentence introduction of yourself.",
    "What do people call you?",
)
QUESTIONS_ZH = (
    "能说说你是谁吗？",
    "你的名字是什么？",
    "和我对话的是哪个助手？",
    "请做个简短的自我介绍。",
    "你这个助手是谁开发的，叫什么？",
    "大家平时怎么称呼你？",
)


def probe(dataset: Any) -> list[Item]:
    """Identity questions in English and Chinese; an answer passes when it contains the model's name."""
    name, author = dataset.model_name, dataset.model_author
    name_zh = dataset.model_name_zh or name
    names = list(dict.fromkeys([name, name_zh]))
    items = [Item(id=f"en-{i}", prompt=[{"role": "user", "content": q}], reference=f"{name} ({author})",
                  names=names, lang="en") for i, q in enumerate(QUESTIONS_EN, start=1)]
    items += [Item(id=f"zh-{i}", prompt=[{"role": "user", "content": q}],
                   reference=f"{name_zh}（{dataset.model_author_zh or author}）", names=names, lang="zh")
              for i, q in enumerate(QUESTIONS_ZH, start=1)]
    return items
