"""Packed rows stay apart: TRL's padding-free collator (the path train.packing uses) gives every row the
same per-token losses as padded, unpacked batches of the same rows, under the attention this machine
uses (SDPA on a CPU, via transformers' block-diagonal mask from position_ids, which it builds only
without a KV cache, as in training); and the speed options
(length-grouped batches by default, packing only where safe) reach the real SFTTrainer."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.hardware import Gpu, Hardware
from engine.spec import JobSpec
from engine.training import options

CPU = Hardware(cpu_cores=2, ram_gb=16)
GPU = Hardware(gpus=[Gpu(0, "H100", 80.0, True)], cpu_cores=16, ram_gb=128)


def _spec(**train) -> JobSpec:
    return JobSpec.model_validate({"name": "t", "task": "sft", "model": {"id": "m", "hub": "local"},
                                   "dataset": {"sft": "d.jsonl"}, "train": train})


def _per_token_losses(model, batch) -> list:
    """Each row's next-token losses, in order (the positions whose label is not -100)."""
    import torch

    batch = dict(batch)
    labels = batch.pop("labels")
    # use_cache=False as in training (SFTTrainer sets it): with a cache, transformers skips the packed-row mask
    logits = model(**batch, use_cache=False).logits.float()
    losses = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:], reduction="none",
                                               ignore_index=-100)
    return losses, labels[:, 1:] != -100


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_and_unpacked_batches_of_the_same_rows_give_the_same_per_row_loss(tiny_model_session: Path, attention):
    import torch
    from transformers import AutoModelForCausalLM
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_session, dtype=torch.float32, attn_implementation=attention)
    model.eval()
    lengths = [5, 17, 9, 30]
    rows = [{"input_ids": torch.randint(3, 500, (n,)).tolist()} for n in lengths]
    with torch.no_grad():
        padded, padded_mask = _per_token_losses(model, DataCollatorForLanguageModeling(pad_token_id=0)(rows))
        packed_batch = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(rows)
        assert "attention_mask" not in packed_batch and packed_batch["input_ids"].shape == (1, sum(lengths))
        packed, packed_mask = _per_token_losses(model, packed_batch)
    flat = packed[0][packed_mask[0]]
    start = 0
    for row, n in enumerate(lengths):
        unpacked = padded[row][padded_mask[row]]
        assert len(unpacked) == n - 1
        # the collator does not score a row's first token from the previous row's last: n - 1 losses per row
        torch.testing.assert_close(flat[start:start + n - 1], unpacked, rtol=1e-4, atol=1e-5)
        start += n - 1
    assert start == len(flat)
    # and the rows really do differ from one long sequence that attends across them
    with torch.no_grad():
        crossed, _ = _per_token_losses(model, {"input_ids": packed_batch["input_ids"],
                                                "labels": packed_batch["labels"]})
    assert not torch.allclose(crossed[0][packed_mask[0]], flat, atol=1e-3)


def test_length_grouped_batches_are_the_default_and_packing_is_auto_only_with_flash_attention():
    assert options.sft_kwargs(_spec(), CPU) == {"packing": False, "train_sampling_strategy": "group_by_length"}
    assert options.sft_kwargs(_spec(group_by_length=False), CPU)["train_sampling_strategy"] == "random"
    assert options.sft_kwargs(_spec(packing="on"), CPU) == {"packing": True, "packing_strategy": "bfd"}
    assert not options.packing(_spec(packing="auto"), CPU)
    assert options.packing(_spec(packing="auto"), GPU) == options.flash_attention(GPU)
    assert not options.packing(_spec(packing="off"), GPU)
    assert options.common_kwargs(_spec(kernels="auto"), CPU) == {}  # never on a CPU


def test_the_sft_trainer_draws_length_grouped_batches(tiny_model_session: Path, tmp_path: Path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_pt_utils import LengthGroupedSampler
    from trl import SFTConfig, SFTTrainer

    from tests.helpers.jobs import toy_sft_rows

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_session)
    config = SFTConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, use_cpu=True, report_to=[],
                       max_length=64, **options.sft_kwargs(_spec(), CPU))
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_model_session), args=config,
                         train_dataset=Dataset.from_list(toy_sft_rows(8)), processing_class=tokenizer)
    assert isinstance(trainer._get_train_sampler(), LengthGroupedSampler)
