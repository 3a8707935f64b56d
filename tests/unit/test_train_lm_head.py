"""The plain LM head (engine.training.lm_head) answers TRL's `fused_lm_head=True` call as TRL's own
chunked head does: the same per-token log-probabilities, loss, top-1 flags and gradients, on the tiny
model with a LoRA adapter; and it is chosen only where it pays (CPU, or a GPU with memory to spare)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.training import lm_head


@pytest.fixture(scope="module")
def batch(tiny_model_session: Path):
    import torch

    torch.manual_seed(0)
    ids = torch.randint(0, 512, (3, 24))
    labels = ids.clone()
    labels[0, :10] = -100  # a prompt that is not scored
    labels[2, 20:] = -100  # padding at the end
    return ids, labels


def _run(model_dir: Path, batch, plain: bool):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    add_fused_lm_head(base, outputs=("log_probs", "entropy", "is_top1", "mean_logits", "log_sum_sq_probs"))
    if plain:
        lm_head.use_plain_head(base, ("entropy", "is_top1", "mean_logits", "log_sum_sq_probs"))
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                                            init_lora_weights=False))
    ids, labels = batch
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels, fused_lm_head=True)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return out, grads


def test_plain_head_gives_the_same_log_probs_loss_and_gradients_as_trls_chunked_head(tiny_model_session, batch):
    import torch

    fused, fused_grads = _run(tiny_model_session, batch, plain=False)
    plain, plain_grads = _run(tiny_model_session, batch, plain=True)
    assert type(plain).__name__ == "FusedCausalLMOutput"
    torch.testing.assert_close(plain.log_probs, fused.log_probs, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(plain.loss, fused.loss, rtol=1e-5, atol=1e-6)
    assert torch.equal(plain.label_mask, fused.label_mask)
    assert torch.equal(plain.is_top1, fused.is_top1)
    torch.testing.assert_close(plain.mean_logits, fused.mean_logits, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(plain.log_sum_sq_probs, fused.log_sum_sq_probs, rtol=1e-4, atol=1e-5)
    assert float(plain.log_probs[0, :9].detach().abs().sum()) == 0.0  # unscored positions stay zero
    assert fused_grads.keys() == plain_grads.keys() and fused_grads
    for name, grad in fused_grads.items():
        torch.testing.assert_close(plain_grads[name], grad, rtol=1e-3, atol=1e-6, msg=name)
    # Entropy is only ever averaged for a metric: the plain head's estimate of the mean is close to the exact one.
    mask = fused.label_mask
    exact = float(fused.entropy[mask].mean())
    estimate = float(plain.entropy[mask].mean())
    assert abs(estimate - exact) < 0.05 * exact


def test_without_the_patch_the_models_own_forward_still_answers(tiny_model_session, batch):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_session, dtype=torch.float32)
    ids, labels = batch
    reference = model(input_ids=ids, labels=labels).loss
    lm_head.use_plain_head(model)
    assert torch.allclose(model(input_ids=ids, labels=labels).loss, reference)  # fused_lm_head not asked: unchanged
    scored = model(input_ids=ids, labels=labels, fused_lm_head=True)
    assert scored.entropy is None and scored.is_top1 is None
    torch.testing.assert_close(scored.loss, reference, rtol=1e-5, atol=1e-6)


def test_the_plain_head_is_picked_on_a_cpu_and_on_a_gpu_only_while_the_logits_are_small(tiny_model_session):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_session)  # vocabulary 512
    assert lm_head.plain_head_pays(model, "cpu", 4, 128, None)
    assert lm_head.plain_head_pays(model, "cuda", 8, 2048, 80.0)
    assert not lm_head.plain_head_pays(model, "cuda", 64, 1_000_000, 24.0)
    assert not lm_head.plain_head_pays(model, "cuda", 4, 128, None)
    model.config.final_logit_softcapping = 30.0  # Gemma-style soft-capping: TRL's head knows it, ours does not
    assert not lm_head.plain_head_pays(model, "cpu", 4, 128, None)
