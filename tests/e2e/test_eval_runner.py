"""The eval runner on the tiny model: a batch answers exactly as one prompt at a time, and the export gate's API."""

from __future__ import annotations

from pathlib import Path

from engine.eval import identity
from engine.eval.benchmarks import resolve
from engine.eval.runner import Runner
from engine.eval.score import behaviour
from engine.spec import JobSpec


def spec() -> JobSpec:
    return JobSpec.model_validate({"name": "r", "task": "sft", "model": {"id": "Qwen/Qwen2.5-0.5B-Instruct"},
                                   "dataset": {"sft": "self-cognition"}})


def test_batched_left_padded_scoring_matches_one_prompt_at_a_time(tiny_model: Path):
    qa, mcq = resolve("qa-en", spec()), resolve("mcq-zh", spec())
    prompts = [it.prompt for it in qa.items[:6]]  # different lengths, so rows are padded
    batched, single = Runner(tiny_model, batch_size=6), Runner(tiny_model, batch_size=1)
    assert batched.generate(prompts, 8) == single.generate(prompts, 8)
    letters = [list(it.choices) for it in mcq.items[:6]]
    a = batched.choice_logprobs([it.prompt for it in mcq.items[:6]], letters)
    b = single.choice_logprobs([it.prompt for it in mcq.items[:6]], letters)
    assert all(abs(a[i][k] - b[i][k]) < 1e-4 for i in range(6) for k in letters[i])
    answers = [it.reference for it in qa.items[:6]]
    for (x, n), (y, m) in zip(batched.answer_logprobs(prompts, answers), single.answer_logprobs(prompts, answers),
                              strict=True):
        assert n == m > 0 and abs(x - y) < 1e-3


def test_behaviour_gives_a_0_to_100_score_from_held_out_rows_and_the_probe(tiny_model: Path):
    rows = [[{"role": "user", "content": "Say the color red."}, {"role": "assistant", "content": "The color is red."}]]
    result = behaviour(tiny_model, rows, identity.probe(spec().dataset)[:2], max_new_tokens=6)
    assert set(result["parts"]) == {"held-out", "identity"}
    assert 0 <= result["score"] <= 100
    assert len(result["records"]["identity"]) == 2 and "output" in result["records"]["held-out"][0]


def test_a_vision_language_model_is_reported_as_not_scored_rather_than_failing(tmp_path: Path, tiny_model: Path):
    from engine.stages.eval import _vision
    from engine.tiny_vlm import build_tiny_vlm

    vlm = build_tiny_vlm(tmp_path / "vlm")
    assert _vision({"base": tiny_model}) is None
    reason = _vision({"base": vlm})
    assert reason is not None and "eval.enabled: false" in reason
