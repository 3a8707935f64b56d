"""The eval runner on the tiny model: a batch answers exactly as one prompt at a time, and the export gate's API."""

from __future__ import annotations

from pathlib import Path

from engine.eval import identity
from engine.eval.benchmarks import resolve
from engine.eval.runner import MIN_SHARED, Runner, shared_prefix
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


def test_shared_prefix_counts_common_leading_tokens_and_leaves_each_row_one_of_its_own():
    assert shared_prefix([[1, 2, 3, 4], [1, 2, 5]]) == 2
    assert shared_prefix([[1, 2, 3], [1, 2, 3]]) == 2  # the last token is each row's own
    assert shared_prefix([[1, 2, 3]]) == 0 and shared_prefix([[7], [7]]) == 0


def test_choice_scoring_through_the_cached_shared_prefix_equals_a_full_forward_of_each_prompt(tiny_model: Path):
    import torch

    mcq = resolve("mcq-en", spec())
    system = {"role": "system", "content": "You are a careful assistant. Read every choice before you answer."}
    prompts = [[system, *it.prompt] for it in mcq.items[:5]]
    letters = [list(it.choices) for it in mcq.items[:5]]
    runner = Runner(tiny_model, batch_size=3)
    encoded = [runner._encode(runner.render(p)) for p in prompts]
    assert shared_prefix(encoded) >= MIN_SHARED  # the cached path is the one under test
    cached = runner.choice_logprobs(prompts, letters)
    for ids, got, keys in zip(encoded, cached, letters, strict=True):
        with torch.no_grad():
            logp = torch.log_softmax(runner.model(input_ids=torch.tensor([ids])).logits[0, -1].float(), dim=-1)
        for k in keys:
            assert abs(got[k] - max(float(logp[t]) for t in runner._letter_ids(k))) < 1e-4


def test_behaviour_gives_a_0_to_100_score_from_held_out_rows_and_the_probe(tiny_model: Path):
    rows = [[{"role": "user", "content": "Say the color red."}, {"role": "assistant", "content": "The color is red."}]]
    result = behaviour(tiny_model, rows, identity.probe(spec().dataset)[:2], max_new_tokens=6)
    assert set(result["parts"]) == {"held-out", "identity"}
    assert 0 <= result["score"] <= 100
    assert len(result["records"]["identity"]) == 2 and "output" in result["records"]["held-out"][0]


def test_open_runner_loads_a_vision_language_folder_with_its_processor_and_a_text_one_as_before(
        tmp_path: Path, tiny_model: Path):
    from engine.eval.runners import open_runner
    from engine.eval.vision_runner import VisionRunner
    from engine.tiny_vlm import build_tiny_vlm

    vlm = build_tiny_vlm(tmp_path / "vlm")
    text, vision = open_runner(tiny_model), open_runner(vlm)
    assert isinstance(text, Runner) and isinstance(vision, VisionRunner)
    prompt = [{"role": "user", "content": "Who are you?"}]  # a text-only prompt through the processor, no pictures
    (answer,) = vision.generate([prompt], 4)
    (logp, n), = vision.answer_logprobs([prompt], ["Hammer"])
    assert isinstance(answer, str) and n > 0 and logp < 0


def test_answer_log_probabilities_from_the_kept_last_positions_equal_a_full_forward(tiny_model: Path):
    import torch

    qa = resolve("qa-en", spec())
    prompts, answers = [it.prompt for it in qa.items[:4]], [it.reference for it in qa.items[:4]]
    runner = Runner(tiny_model, batch_size=4)
    for messages, answer, (got, n) in zip(prompts, answers, runner.answer_logprobs(prompts, answers), strict=True):
        head = runner._encode(runner.render(messages))
        tail = runner.tokenizer(runner._answer_text(messages, answer), add_special_tokens=False)["input_ids"]
        ids = torch.tensor([head + tail])
        with torch.no_grad():
            logp = torch.log_softmax(runner.model(input_ids=ids).logits[0].float(), dim=-1)
        want = sum(float(logp[len(head) - 1 + k, t]) for k, t in enumerate(tail))
        assert n == len(tail) > 0 and abs(got - want) < 1e-3
