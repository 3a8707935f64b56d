"""Swap TRL 1.16's chunked LM head for one plain projection where memory is not short.

Why: `SFTTrainer` and `DPOTrainer` always call `trl.trainer.utils.add_fused_lm_head`, which runs the
LM head in Python-tiled chunks (recomputing every tile in the backward) so that the `(tokens, vocab)`
logits never exist at once. That saves memory on a GPU with a large vocabulary; on a CPU, or when the
logits are small beside the device's memory, it only costs time: a py-spy profile of the issue-15 job
(SmolLM2-135M, vocabulary 49,152) put 32 % of all samples in `trl/kernels/chunked_logprob.py`
(../shared/STACK.md). The plain head here answers the same `fused_lm_head=True` call with the same
`FusedCausalLMOutput` fields, from one matmul over the positions that have a label (prompt tokens
under assistant-only loss are never projected at all), so the trainers' own loss code runs unchanged.
"""

from __future__ import annotations

import types
from typing import Any

from ..hardware import Hardware

# Logits up to this share of one GPU's memory are materialised at once (fp32, plus log-softmax and
# its gradient: about three copies); above it TRL's chunked head stays, since that is where it pays.
GPU_LOGITS_SHARE = 0.08
ENTROPY_EVERY = 16
SCALED = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling")


def plain_head_pays(model: Any, accelerator: str, rows: int, length: int, gpu_memory_gb: float | None) -> bool:
    """True when the plain head is the faster choice and safe on memory.

    CPU: always (no Triton; the chunked head's torch fallback is the slow path). GPU: while
    rows × length × vocab fp32 logits, three times over, fit in GPU_LOGITS_SHARE of its memory.
    Models that scale or soft-cap their logits keep TRL's head, which knows how.
    """
    config = model.config.get_text_config()
    if any(getattr(config, name, None) not in (None, 1.0) for name in SCALED):
        return False
    if hasattr(config, "output_router_logits"):
        return False  # MoE: TRL's head adds the load-balancing loss
    if accelerator == "cpu":
        return True
    if not gpu_memory_gb:
        return False
    vocab = int(getattr(config, "vocab_size", 0) or 0)
    logits_gb = 3 * rows * length * vocab * 4 / 1024**3
    return logits_gb <= GPU_LOGITS_SHARE * gpu_memory_gb


def use_plain_head(model: Any, outputs: tuple[str, ...] = ("log_probs",)) -> None:
    """Replace the fused forward TRL put on `model` (the base model, not a PEFT wrapper).

    outputs: the optional per-token fields the trainer reads ("entropy", "is_top1", "mean_logits");
    others come back as None, as from TRL's head. Call after the trainer is built, before train().
    Entropy is only ever logged (the trainers' `entropy` metric, a mean over tokens), and a full pass over
    the (tokens, vocab) probabilities cost 8 % of a step on the issue-15 job, so it is measured on
    every ENTROPY_EVERY-th scored token and that mean given to every token: the same logged mean,
    estimated.
    """
    import torch
    from trl.trainer.utils import FusedCausalLMOutput

    model.__dict__.pop("forward", None)  # TRL set an instance attribute; the class forward is the original
    original = model.forward
    want = set(outputs)

    def forward(self: Any, *args: Any, fused_lm_head: bool = False, labels: Any = None, shift_labels: Any = None,
                num_items_in_batch: Any = None, **kwargs: Any) -> Any:
        if not fused_lm_head:
            extra = {"labels": labels, "shift_labels": shift_labels, "num_items_in_batch": num_items_in_batch}
            return original(*args, **kwargs, **{k: v for k, v in extra.items() if v is not None})
        kwargs["use_cache"] = False
        hidden = self.base_model(*args, **kwargs).last_hidden_state
        if shift_labels is None:
            hidden, labels = hidden[:, :-1], labels[:, 1:]
        else:
            labels = shift_labels
        head = self.get_output_embeddings()
        labels = labels.to(head.weight.device)
        mask = labels != -100
        logits = head(hidden.to(head.weight.device)[mask]).float()  # only the positions that are scored
        logp_all = torch.log_softmax(logits, dim=-1)
        target = labels[mask]
        picked = logp_all.gather(-1, target.unsqueeze(-1)).squeeze(-1)

        def spread(values: Any) -> Any:
            return values.new_zeros(mask.shape).masked_scatter(mask, values)

        log_probs = spread(picked)
        entropy = is_top1 = mean_logits = log_sum_sq = None
        if want & {"entropy", "is_top1", "mean_logits", "log_sum_sq_probs"}:
            with torch.no_grad():
                if "entropy" in want:
                    entropy = spread(_entropy(logp_all))
                if "is_top1" in want:
                    is_top1 = spread((logits.argmax(-1) == target).to(logits.dtype)).bool()
                if "mean_logits" in want:
                    mean_logits = spread(logits.mean(-1))
                if "log_sum_sq_probs" in want:
                    log_sum_sq = spread(torch.logsumexp(2 * logp_all, dim=-1))
        count = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        return FusedCausalLMOutput(loss=-log_probs.sum() / count, log_probs=log_probs, entropy=entropy,
                                   log_sum_sq_probs=log_sum_sq, mean_logits=mean_logits, is_top1=is_top1, label_mask=mask)

    model.forward = types.MethodType(forward, model)


def _entropy(logp: Any) -> Any:
    """Per-token entropy of the rows of `logp` (no grad), estimated from every ENTROPY_EVERY-th row."""
    sample = logp[::ENTROPY_EVERY]
    mean = -(sample.exp() * sample).sum(-1).mean() if len(sample) else logp.new_zeros(())
    return mean.expand(logp.shape[0]).clone()


def apply(trainer: Any, hw: Hardware, rows: int, outputs: tuple[str, ...]) -> bool:
    """Give `trainer`'s model (and its reference model, if any) the plain head where it pays; say whether it did.

    rows: sequences in one forward pass (the batch; twice that for DPO's chosen + rejected).
    """
    from peft import PeftModel

    model = trainer.model
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    memory = hw.device_memory_gb() if hw.gpus else None
    if not plain_head_pays(base, hw.accelerator, rows, trainer.args.max_length or 1024, memory):
        return False
    use_plain_head(base, outputs)
    ref = getattr(trainer, "ref_model", None)
    if ref is not None:
        use_plain_head(ref, ("log_probs",))
    return True
