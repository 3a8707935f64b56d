"""Verifiable instructions (IFEval-style): each rule is checked by code on the answer, no judge model.

An item is a prompt plus rules such as {"rule": "max_words", "n": 40}. A benchmark file is JSONL:
{"id": ..., "prompt": ..., "rules": [...], "lang": "en"}. Scores: prompt_accuracy (every rule of an
item holds) and instruction_accuracy (share of all rules that hold), as IFEval's strict figures.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..data.rows import Problems, read_records
from .items import Item
from .readers import missing

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_BULLET = re.compile(r"^\s*[-*•]\s+\S", re.M)
_NUMBERED = re.compile(r"^\s*\d+[.)、]\s*\S", re.M)
_SENTENCE_END = re.compile(r"[.!?。！？]+")


def _words(text: str) -> int:
    """Words, counting each CJK character as one (Chinese has no spaces)."""
    return len(_CJK.findall(text)) + len(_CJK.sub(" ", text).split())


def _json(text: str) -> bool:
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


# rule name → (parameters it takes, check(answer, params) -> bool)
RULES: dict[str, tuple[tuple[str, ...], Callable[[str, dict[str, Any]], bool]]] = {
    "max_words": (("n",), lambda a, p: _words(a) <= int(p["n"])),
    "min_words": (("n",), lambda a, p: _words(a) >= int(p["n"])),
    "include": (("word",), lambda a, p: str(p["word"]).lower() in a.lower()),
    "exclude": (("word",), lambda a, p: str(p["word"]).lower() not in a.lower()),
    "lowercase": ((), lambda a, p: a == a.lower() and any(c.isalpha() for c in a)),
    "uppercase": ((), lambda a, p: a == a.upper() and any(c.isalpha() for c in a)),
    "starts_with": (("text",), lambda a, p: a.strip().lower().startswith(str(p["text"]).lower())),
    "ends_with": (("text",), lambda a, p: a.strip().lower().endswith(str(p["text"]).lower())),
    "bullets": (("n",), lambda a, p: len(_BULLET.findall(a)) == int(p["n"])),
    "numbered": (("n",), lambda a, p: len(_NUMBERED.findall(a)) == int(p["n"])),
    "no_commas": ((), lambda a, p: "," not in a and "，" not in a),
    "json": ((), lambda a, p: _json(a)),
    "max_sentences": (("n",), lambda a, p: len([s for s in _SENTENCE_END.split(a) if s.strip()]) <= int(p["n"])),
    "chinese": ((), lambda a, p: bool(_CJK.search(a))),
    "no_chinese": ((), lambda a, p: not _CJK.search(a)),
    "quoted": ((), lambda a, p: a.strip()[:1] in "\"“" and a.strip()[-1:] in "\"”" and len(a.strip()) > 1),
}


def check(answer: str, rule: dict[str, Any]) -> bool:
    """Whether `answer` keeps one rule."""
    _, fn = RULES[rule["rule"]]
    return bool(fn(answer, rule))


def rule_problem(rule: Any) -> str | None:
    """What is wrong with one rule as written in a file, or None."""
    if not isinstance(rule, dict) or not isinstance(rule.get("rule"), str):
        return 'each rule is an object such as {"rule": "max_words", "n": 40}'
    name = rule["rule"]
    if name not in RULES:
        close = difflib.get_close_matches(name, RULES, n=1)
        hint = f"did you mean {close[0]}?" if close else f"known rules: {', '.join(RULES)}"
        return f"unknown rule {name!r}; {hint}"
    for param in RULES[name][0]:
        if param not in rule:
            return f"rule {name} needs {param}"
        if param == "n" and (not isinstance(rule[param], int) or isinstance(rule[param], bool) or rule[param] < 0):
            return f"rule {name}: n must be a whole number ≥ 0"
    return None


def read_instructions(path: Path) -> list[Item]:
    """Every line of an instructions JSONL file as an Item; UserError listing every bad line otherwise."""
    if not path.is_file():
        raise missing(path, 'an instructions .jsonl file ({"prompt": ..., "rules": [...]} a line)')
    problems = Problems(str(path))
    items: list[Item] = []
    for record in read_records(path, problems):
        data = record.data
        prompt, rules = data.get("prompt"), data.get("rules")
        if not isinstance(prompt, str) or not prompt.strip():
            problems.at(record, "the prompt is empty; write the instruction in prompt or delete the line")
            continue
        if not isinstance(rules, list) or not rules:
            problems.at(record, 'rules must be a non-empty list such as [{"rule": "max_words", "n": 40}]')
            continue
        bad = next((p for p in map(rule_problem, rules) if p), None)
        if bad:
            problems.at(record, bad)
            continue
        items.append(Item(id=str(data.get("id", record.line)), prompt=[{"role": "user", "content": prompt}],
                          rules=rules, lang=str(data.get("lang", "en")), where=f"{record.file}:{record.line}"))
    problems.raise_if_any()
    return items
