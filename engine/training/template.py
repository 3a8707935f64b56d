"""Assistant-only loss for chat templates that do not mark assistant turns.

TRL computes the loss on assistant tokens only when the chat template wraps them in
`{% generation %}…{% endgeneration %}`. Most shipped templates (SmolLM2's, Qwen's) lack the
markers, and silently training on the prompts too is the classic way a fine-tune learns to
parrot questions. So we build a marked copy for training and keep it only if it renders
exactly the same text as the original on probe conversations and its mask covers each
answer and its end-of-turn token. The original template is what gets saved with the model.

How the copy is made: inside the `for message in messages` loop, the output expression that
prints the message content is split at the content (`'<|im_start|>' + role + '\\n'` stays
outside, `content + '<|im_end|>' + '\\n'` goes inside the markers, together with any
literal-only outputs right after it), guarded by `message['role'] == 'assistant'`.
"""

from __future__ import annotations

import re
from typing import Any

TAG = re.compile(r"({{.*?}}|{%.*?%}|{#.*?#})", re.S)
FOR = re.compile(r"^{%[-+]?\s*for\s+(\w+)\s+in\s+(messages|loop_messages)\b.*%}$", re.S)
ENDFOR = re.compile(r"^{%[-+]?\s*endfor\b")
OUTPUT = re.compile(r"^{{([-+]?)(.*?)([-+]?)}}$", re.S)
MARKERS = re.compile(r"{%-?\s*generation\s*-?%}")
STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.S)

PROBES: list[tuple[list[dict[str, str]], bool]] = [
    ([{"role": "user", "content": "probe question one"}, {"role": "assistant", "content": "probe answer one"}], False),
    (
        [
            {"role": "system", "content": "probe system text"},
            {"role": "user", "content": "probe question one"},
            {"role": "assistant", "content": "probe answer one"},
            {"role": "user", "content": "probe question two"},
            {"role": "assistant", "content": "probe answer two"},
        ],
        False,
    ),
    (
        [
            {"role": "user", "content": "probe question one"},
            {"role": "assistant", "content": "probe answer one"},
            {"role": "user", "content": "probe question two"},
        ],
        True,
    ),
]


def has_markers(template: str) -> bool:
    return bool(MARKERS.search(template))


def _split_terms(expr: str) -> tuple[list[str], list[str]]:
    """Top-level operands of + / ~ in a Jinja expression, and the operators between them."""
    terms, ops, depth, start, i = [], [], 0, 0, 0
    while i < len(expr):
        ch = expr[i]
        if ch in "'\"":
            match = STRING.match(expr, i)
            i = match.end() if match else len(expr)
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch in "+~" and depth == 0:
            terms.append(expr[start:i].strip())
            ops.append(ch)
            start = i + 1
        i += 1
    terms.append(expr[start:].strip())
    return terms, ops


def _join(terms: list[str], ops: list[str]) -> str:
    out = terms[0]
    for op, term in zip(ops, terms[1:], strict=True):
        out += f" {op} {term}"
    return out


def _literal_only(expr: str) -> bool:
    return STRING.sub("", expr).strip(" \t\n()+~") == ""


def _loop_body(parts: list[str]) -> tuple[str, int, int] | None:
    """(loop variable, first index, end index) of the loop over the messages, in the token list."""
    for i, part in enumerate(parts):
        match = FOR.match(part)
        if not match:
            continue
        depth = 0
        for j in range(i + 1, len(parts)):
            if parts[j].startswith("{%") and re.match(r"^{%[-+]?\s*for\b", parts[j]):
                depth += 1
            elif ENDFOR.match(parts[j]):
                if depth == 0:
                    return match.group(1), i + 1, j
                depth -= 1
        return None
    return None


def mark_template(template: str) -> str | None:
    """A copy of `template` with generation markers around assistant content, or None if no rewrite applies."""
    if has_markers(template):
        return template
    parts = TAG.split(template)
    body = _loop_body(parts)
    if body is None:
        return None
    var, start, end = body
    content = re.compile(rf"\b{var}\s*(\[\s*['\"]content['\"]\s*\]|\.content\b)")
    changed = False
    i = start
    while i < end:
        match = OUTPUT.match(parts[i])
        if not match or not content.search(match.group(2)):
            i += 1
            continue
        terms, ops = _split_terms(match.group(2))
        k = next(n for n, term in enumerate(terms) if content.search(term))
        # Absorb literal-only outputs right after it (e.g. Gemma's separate '<end_of_turn>').
        last, absorbed, j = i, [], i + 1
        while j < end:
            piece = parts[j]
            if not piece:
                j += 1
                continue
            nxt = OUTPUT.match(piece)
            if nxt and _literal_only(nxt.group(2)):
                gap = "".join(parts[last + 1 : j])
                if gap.strip() or (gap and not (OUTPUT.match(parts[last]).group(3) == "-" or nxt.group(1) == "-")):
                    break
                absorbed.append(nxt.group(2).strip())
                last = j
                j += 1
                continue
            if TAG.fullmatch(piece) or piece.strip():
                break
            j += 1
        left = "-" if match.group(1) == "-" else "+"
        right = "-" if OUTPUT.match(parts[last]).group(3) == "-" else "+"
        pre = f"{{{{ {_join(terms[:k], ops[: k - 1])} }}}}" if k else ""
        inside = "".join(f"{{{{ {e} }}}}" for e in [_join(terms[k:], ops[k:]), *absorbed])
        plain = "".join(f"{{{{ {e} }}}}" for e in [match.group(2).strip(), *absorbed])
        parts[i] = (
            f"{{%{left} if {var}['role'] == 'assistant' %}}{pre}{{% generation %}}{inside}{{% endgeneration %}}"
            f"{{% else %}}{plain}{{% endif {right}%}}"
        )
        for n in range(i + 1, last + 1):
            parts[n] = ""
        changed = True
        i = last + 1
    return "".join(parts) if changed else None


def renders_identically(tokenizer: Any, original: str, marked: str) -> bool:
    """True when both templates give the same text on every probe the original can render."""
    rendered = 0
    for messages, prompt in PROBES:
        try:
            want = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt,
                                                 chat_template=original)
        except Exception:  # noqa: BLE001 - a template may refuse a probe shape (e.g. a system turn)
            continue
        try:
            got = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt,
                                                chat_template=marked)
        except Exception:  # noqa: BLE001
            return False
        if got != want:
            return False
        rendered += 1
    return rendered > 0


def masks_answers(tokenizer: Any, marked: str) -> bool:
    """The assistant mask covers every answer and its end-of-turn token, and no prompt text."""
    from trl.chat_template_utils import is_chat_template_stop_token_trained

    for messages, _ in PROBES[:2]:
        try:
            out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                                return_assistant_tokens_mask=True, chat_template=marked)
        except Exception:  # noqa: BLE001
            continue
        ids = [t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=False) if m]
        text = tokenizer.decode(ids)
        answers = [m["content"] for m in messages if m["role"] == "assistant"]
        prompts = [m["content"] for m in messages if m["role"] != "assistant"]
        if not all(a in text for a in answers) or any(p in text for p in prompts):
            return False
    return is_chat_template_stop_token_trained(tokenizer, chat_template=marked)


def training_template(tokenizer: Any) -> tuple[str | None, str]:
    """(template to train with, what was done) — None when assistant-only loss cannot be had."""
    original = tokenizer.chat_template
    if not isinstance(original, str) or not original:
        return None, "the tokenizer has no single chat template"
    if has_markers(original):
        return original, "the chat template marks assistant turns itself"
    candidates: list[tuple[str, str]] = []
    try:
        from trl.chat_template_utils import get_training_chat_template

        trl_template = get_training_chat_template(tokenizer)
        if trl_template:
            candidates.append((trl_template, "TRL's training copy of this model's chat template"))
    except (ValueError, TypeError):
        pass
    ours = mark_template(original)
    if ours:
        candidates.append((ours, "a marked copy of the chat template (renders the same text)"))
    for template, how in candidates:
        if renders_identically(tokenizer, original, template) and masks_answers(tokenizer, template):
            return template, how
    return None, "could not mark assistant turns in this chat template"


def require_chat_template(tokenizer: Any, base: Any) -> str:
    """The tokenizer's chat template; a UserError naming model.id when there is none (every training stage
    formats conversations with it)."""
    from ..errors import UserError

    if not tokenizer.chat_template:
        raise UserError(f"model.id: {base} has no chat template; pick an instruct/chat model or add one to its tokenizer")
    return tokenizer.chat_template
