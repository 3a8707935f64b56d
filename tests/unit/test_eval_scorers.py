"""Eval scorers against figures worked out by hand, and the instruction rules on answers that keep or break them."""

from __future__ import annotations

import math

import pytest

from engine.eval import scorers
from engine.eval.instructions import check, rule_problem
from engine.eval.score import metrics


def test_exact_match_ignores_case_punctuation_and_spacing_only():
    assert scorers.exact_match("  Paris. ", "paris") == 1.0
    assert scorers.exact_match("北京。", "北京") == 1.0
    assert scorers.exact_match("Paris, France", "Paris") == 0.0


def test_contains_finds_the_reference_inside_a_longer_answer():
    assert scorers.contains("The capital is Paris, of course.", "paris") == 1.0
    assert scorers.contains("It is Lyon.", "Paris") == 0.0
    assert scorers.contains("anything", "  ") == 0.0


def test_rouge_l_matches_a_hand_computed_lcs():
    # prediction "the cat sat on the mat" (6), reference "the cat is on the mat" (6); LCS the cat on the mat = 5
    assert scorers.rouge_l("the cat sat on the mat", "the cat is on the mat") == pytest.approx(5 / 6)
    # precision 2/2, recall 2/4 -> F1 = 2 * 1 * 0.5 / 1.5 = 2/3
    assert scorers.rouge_l("red apple", "a red big apple") == pytest.approx(2 / 3)
    assert scorers.rouge_l("", "x") == 0.0


def test_rouge_l_counts_chinese_characters_one_by_one():
    # 我是小锤 vs 我叫小锤: LCS 我 小 锤 = 3 of 4 each way
    assert scorers.rouge_l("我是小锤", "我叫小锤") == pytest.approx(0.75)


def test_perplexity_is_exp_of_the_mean_nll():
    assert scorers.perplexity(2 * math.log(4), 2) == pytest.approx(4.0)
    assert scorers.perplexity(1.0, 0) is None
    assert scorers.perplexity(1e6, 1) is None


def test_preference_accuracy_and_margin_by_hand():
    chosen, rejected = [-1.0, -5.0, -2.0, -3.0], [-2.0, -4.0, -2.0, -9.0]
    assert scorers.preference_accuracy(chosen, rejected) == 0.5  # a tie is not a win
    assert scorers.reward_margin(chosen, rejected) == pytest.approx((1 - 1 + 0 + 6) / 4)
    assert scorers.preference_accuracy([], []) is None


def test_pick_choice_takes_the_likeliest_letter():
    assert scorers.pick_choice({"A": -3.0, "B": -0.5, "C": -2.0}) == "B"
    assert scorers.pick_choice({"A": -1.0, "B": -1.0}) == "A"


def test_identity_mention_is_case_and_width_blind():
    assert scorers.mentions("I am HAMMER, made by …", ["Hammer"]) == 1.0
    assert scorers.mentions("我是小锤", ["Hammer", "小锤"]) == 1.0
    assert scorers.mentions("I am SmolLM.", ["Hammer"]) == 0.0


@pytest.mark.parametrize(("rule", "good", "bad"), [
    ({"rule": "max_words", "n": 3}, "one two three", "one two three four"),
    ({"rule": "min_words", "n": 3}, "one two three", "one two"),
    ({"rule": "include", "word": "sunshine"}, "Hello Sunshine!", "Hello rain"),
    ({"rule": "exclude", "word": "green"}, "a tall tree", "a green tree"),
    ({"rule": "lowercase"}, "all small here", "Not all small"),
    ({"rule": "uppercase"}, "HELLO THERE", "Hello"),
    ({"rule": "starts_with", "text": "yes"}, "Yes, it is.", "No."),
    ({"rule": "ends_with", "text": "done"}, "red. done", "done. red"),
    ({"rule": "bullets", "n": 2}, "- a\n- b", "- a\n- b\n- c"),
    ({"rule": "numbered", "n": 2}, "1. cat\n2. dog", "1. cat"),
    ({"rule": "no_commas"}, "no commas here", "one, two"),
    ({"rule": "json"}, '```json\n{"a": 1}\n```', "{a: 1}"),
    ({"rule": "max_sentences", "n": 1}, "One sentence.", "One. Two."),
    ({"rule": "chinese"}, "天空是蓝色的", "the sky"),
    ({"rule": "no_chinese"}, "four", "四"),
    ({"rule": "quoted"}, '"hi"', "hi"),
])
def test_each_instruction_rule_passes_and_fails(rule, good, bad):
    assert rule_problem(rule) is None
    assert check(good, rule) and not check(bad, rule)


def test_chinese_words_count_by_character():
    assert check("天空是蓝色", {"rule": "max_words", "n": 5})
    assert not check("天空是蓝色的", {"rule": "max_words", "n": 5})


def test_rule_mistakes_are_named():
    assert "did you mean max_words" in rule_problem({"rule": "max_word", "n": 3})
    assert "needs n" in rule_problem({"rule": "max_words"})


def test_metrics_are_computed_from_records_alone():
    mcq = [{"answer": "B", "logprobs": {"A": -2.0, "B": -1.0}}, {"answer": "A", "logprobs": {"A": -3.0, "B": -1.0}}]
    assert metrics("mcq", mcq) == {"n": 2, "accuracy": 0.5}
    held = [{"output": "Paris", "reference": "Paris", "nll": 2.0, "tokens": 2},
            {"output": "It is Rome", "reference": "Rome", "nll": 4.0, "tokens": 4}]
    got = metrics("heldout", held)
    assert got["exact_match"] == 0.5 and got["contains"] == 1.0
    assert got["rouge_l"] == pytest.approx((1 + 2 * (1 / 3) * 1 / (1 / 3 + 1)) / 2, abs=1e-6)
    assert got["perplexity"] == pytest.approx(math.exp(1.0), abs=1e-5)
    ident = [{"output": "I am Hammer", "names": ["Hammer"], "lang": "en"},
             {"output": "我是助手", "names": ["Hammer", "小锤"], "lang": "zh"}]
    assert metrics("identity", ident) == {"n": 2, "named": 0.5, "named_en": 1.0, "named_zh": 0.0}
    rules = [{"output": "a b", "rules": [{"rule": "max_words", "n": 3}, {"rule": "uppercase"}]}]
    assert metrics("instructions", rules) == {"n": 1, "prompt_accuracy": 0.0, "instruction_accuracy": 0.5}
