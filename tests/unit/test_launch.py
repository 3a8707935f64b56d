"""Multi-process launch: which layout a job gets on which machine, the torchrun argv, and the rendered
DDP / FSDP / DeepSpeed settings checked by the libraries that will read them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from engine.errors import UserError
from engine.hardware import Gpu, Hardware
from engine.spec import JobSpec
from engine.training import launch

CPU = Hardware(cpu_cores=2)


def gpus(n: int, bf16: bool = True) -> Hardware:
    return Hardware(gpus=[Gpu(i, "H100", 80.0, bf16) for i in range(n)], cpu_cores=16)


def job(**parallel) -> JobSpec:
    return JobSpec.model_validate({"name": "p", "task": "sft", "model": {"id": "/m", "hub": "local"},
                                   "dataset": {"sft": "d.jsonl"}, "parallel": parallel})


def test_auto_runs_one_process_on_a_cpu_and_on_one_gpu():
    for hw in (CPU, gpus(1)):
        layout = launch.resolve(job(), hw)
        assert (layout.strategy, layout.nproc, layout.launched) == ("none", 1, False)
        assert layout.describe() == "1 process"


def test_auto_uses_ddp_with_one_process_per_gpu_over_nccl():
    layout = launch.resolve(job(), gpus(4))
    assert (layout.strategy, layout.nproc, layout.backend, layout.launched) == ("ddp", 4, "nccl", True)
    assert "4 processes" in layout.describe()


def test_two_processes_on_a_cpu_are_ddp_over_gloo():
    layout = launch.resolve(job(num_processes=2), CPU)
    assert (layout.strategy, layout.world, layout.backend, layout.launched) == ("ddp", 2, "gloo", True)
    assert launch.resolve(job(num_processes=2, strategy="ddp"), CPU).launched


def test_ddp_over_a_single_process_runs_in_this_process():
    assert not launch.resolve(job(strategy="ddp"), CPU).launched


def test_several_machines_multiply_the_world():
    layout = launch.resolve(job(num_processes=8, nnodes=2, node_rank=1, master_addr="10.0.0.1"), gpus(8))
    assert layout.world == 16 and layout.strategy == "ddp" and "each of 2 machines" in layout.describe()


@pytest.mark.parametrize(
    ("parallel", "hw", "expected"),
    [
        ({"strategy": "fsdp"}, CPU, "parallel.strategy: fsdp shards the model across GPUs"),
        ({"strategy": "deepspeed-zero3"}, CPU, "parallel.strategy: deepspeed-zero3 shards the model across GPUs"),
        ({"strategy": "none", "num_processes": 2}, CPU, "parallel.strategy: none runs one process"),
        ({"num_processes": 4}, gpus(2), "parallel.num_processes: 4 processes but this machine has 2 GPUs"),
    ],
)
def test_impossible_layouts_are_user_errors_naming_the_field(parallel, hw, expected):
    assert any(line.startswith(expected) for line in launch.problems(job(**parallel), hw))
    with pytest.raises(UserError) as info:
        launch.resolve(job(**parallel), hw)
    assert any(line.startswith(expected) for line in info.value.lines)


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None, reason="deepspeed is installed here")
def test_deepspeed_without_the_package_says_how_to_install_it():
    lines = launch.problems(job(strategy="deepspeed-zero2"), gpus(2))
    assert any("pip install deepspeed" in line for line in lines)


def test_one_machine_rendezvous_on_a_free_local_port(tmp_path: Path):
    argv = launch.torchrun_argv(launch.resolve(job(num_processes=2), CPU), tmp_path / "jobs" / "p", "sft")
    assert argv[1:5] == ["-m", "torch.distributed.run", "--nproc-per-node", "2"]
    assert "--standalone" in argv and "--master-addr" not in argv
    assert argv[-4:] == ["-m", "engine.worker", str(tmp_path / "jobs" / "p"), "sft"]


def test_multi_node_settings_pass_through_to_torchrun(tmp_path: Path):
    spec = job(num_processes=8, nnodes=2, node_rank=1, master_addr="node0.cluster", master_port=29600)
    argv = launch.torchrun_argv(launch.resolve(spec, gpus(8)), tmp_path, "dpo")
    flags = dict(zip(argv[::1], argv[1::1], strict=False))
    assert flags["--nnodes"] == "2" and flags["--node-rank"] == "1"
    assert flags["--master-addr"] == "node0.cluster" and flags["--master-port"] == "29600"
    assert "--standalone" not in argv


def render(strategy: str, hw: Hardware, tmp_path: Path, **train) -> dict:
    spec = JobSpec.model_validate({"name": "p", "task": "sft", "model": {"id": "/m", "hub": "local"},
                                   "dataset": {"sft": "d.jsonl"}, "train": train,
                                   "parallel": {"strategy": strategy, "num_processes": len(hw.gpus) or 2}})
    layout = launch.Layout(strategy, 2, backend="nccl")
    text = launch.render_settings(layout, spec, "sft", ["python", "-m", "x", "with\nnewline"], ["LlamaDecoderLayer"])
    assert text.startswith(f"# {'DeepSpeed ZeRO' if 'deepspeed' in strategy else strategy.upper()}")
    assert all(line.startswith("#") for line in text.splitlines()[:5]), "the header explains the file"
    path = tmp_path / f"{strategy}.yaml"
    path.write_text(text)
    return launch.settings(launch.Layout(strategy, 2, settings=str(path)))


def test_rendered_ddp_settings_are_training_arguments(tmp_path: Path):
    import dataclasses

    from transformers import TrainingArguments

    settings = render("ddp", gpus(2), tmp_path)
    assert settings == {"ddp_backend": "nccl", "ddp_find_unused_parameters": False, "ddp_timeout": 1800}
    assert set(settings) <= {f.name for f in dataclasses.fields(TrainingArguments)}  # used for real in the DDP e2e test


def test_rendered_fsdp_settings_wrap_each_transformer_block(tmp_path: Path, tiny_model_session: Path):
    from accelerate.utils import FullyShardedDataParallelPlugin
    from transformers import AutoModelForCausalLM, TrainingArguments

    from engine.training.loading import decoder_layer_classes

    assert decoder_layer_classes(tiny_model_session) == ["LlamaDecoderLayer"]
    settings = render("fsdp", gpus(2), tmp_path, gradient_checkpointing=True)
    args = TrainingArguments(output_dir=str(tmp_path / "o"), use_cpu=True, **settings)
    plugin_args = args.fsdp_plugin_args
    assert plugin_args["fsdp_version"] == 2 and plugin_args["auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert plugin_args["transformer_cls_names_to_wrap"] == "LlamaDecoderLayer"
    assert plugin_args["activation_checkpointing"] is True
    plugin = FullyShardedDataParallelPlugin(**plugin_args)
    plugin.set_auto_wrap_policy(AutoModelForCausalLM.from_pretrained(tiny_model_session))  # finds the blocks


@pytest.mark.parametrize("stage", [2, 3])
def test_rendered_deepspeed_settings_fill_from_the_job(tmp_path: Path, stage: int):
    from accelerate.utils.deepspeed import HfDeepSpeedConfig
    from transformers import TrainingArguments
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    settings = render(f"deepspeed-zero{stage}", gpus(2), tmp_path)
    ds = settings["deepspeed"]
    assert HfDeepSpeedConfig(ds).is_zero3() == (stage == 3) and HfDeepSpeedConfig(ds).is_zero2() == (stage == 2)
    # transformers' own filling of "auto" from the TrainingArguments (without importing deepspeed itself)
    class Filler(HfTrainerDeepSpeedConfig, HfDeepSpeedConfig):
        """transformers' filler over accelerate's reader (the base transformers picks when deepspeed is there)."""

    config = Filler.__new__(Filler)
    HfDeepSpeedConfig.__init__(config, ds)
    config.mismatches = []
    config._dtype = None
    args = TrainingArguments(output_dir=str(tmp_path / "o"), use_cpu=True, per_device_train_batch_size=3,
                             gradient_accumulation_steps=5)
    config.trainer_config_process(args)
    assert config.mismatches == []
    assert config.config["train_micro_batch_size_per_gpu"] == 3 and config.config["gradient_accumulation_steps"] == 5
    left = {k for k, v in config.config["zero_optimization"].items() if v == "auto"}
    assert left <= {"reduce_bucket_size", "stage3_prefetch_bucket_size", "stage3_param_persistence_threshold"}
    if stage == 3:
        assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


def test_every_strategy_has_a_template():
    from typing import get_args

    from engine.spec.parallel import Strategy

    shipped = {p.name.removesuffix(".yaml.j2") for p in launch.TEMPLATES.glob("*.yaml.j2")}
    assert shipped == set(get_args(Strategy)) - {"auto", "none"}
    for path in launch.TEMPLATES.glob("*.yaml.j2"):
        assert yaml.safe_load(path.read_text().split("\n", 1)[0] + "\n") is None  # starts with a comment


def test_multi_node_runs_keep_checkpoints_and_results_on_every_machine(tmp_path: Path):
    from engine.context import Context
    from engine.events import EventLog
    from engine.state import State
    from engine.training.args import training_kwargs

    hw = gpus(8)
    for nnodes, strategy in ((2, "auto"), (1, "fsdp")):
        spec = JobSpec.model_validate({"name": "p", "task": "sft", "model": {"id": "/m", "hub": "local"},
                                       "dataset": {"sft": "d.jsonl"}, "train": {"gradient_checkpointing": True},
                                       "parallel": {"nnodes": nnodes, "strategy": strategy}})
        ctx = Context(spec, tmp_path, EventLog(tmp_path / "events.jsonl", enabled=False), State(tmp_path), hw)
        kwargs = training_kwargs(spec, ctx, launch.resolve(spec, hw), output_dir=tmp_path, learning_rate=1e-4,
                                 epochs=1.0, max_steps=None, has_eval=False, precision="bf16")
        assert kwargs.get("save_on_each_node", False) is (nnodes > 1)
        assert kwargs["save_total_limit"] is None, "rotation happens after a checkpoint is marked complete"
        # FSDP checkpoints activations itself (rendered settings); the Trainer's would gather twice
        assert kwargs["gradient_checkpointing"] is (strategy != "fsdp")


def test_auto_shards_with_fsdp_when_the_estimate_says_one_gpu_cannot_hold_a_copy(tmp_path: Path):
    model = tmp_path / "big"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({  # Llama-3-70B's shape; no weights needed
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8192, "intermediate_size": 28672,
        "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8, "vocab_size": 128256,
        "max_position_embeddings": 8192, "torch_dtype": "bfloat16"}))
    (model / "chat_template.jinja").write_text("{{ messages }}")
    spec = JobSpec.model_validate({"name": "big", "task": "sft", "model": {"id": str(model), "hub": "local"},
                                   "dataset": {"sft": "d.jsonl"}, "train": {"method": "full"}})
    assert launch.resolve(spec, gpus(8), tmp_path / "jobs" / "big").strategy == "fsdp"
    assert launch.resolve(spec, gpus(8)).strategy == "ddp", "no job folder, no estimate: plain DDP"
    small = spec.model_copy(update={"model": spec.model.model_copy(update={"id": "/nowhere"})})
    assert launch.resolve(small, gpus(8), tmp_path / "jobs" / "big").strategy == "ddp"
