"""Memory arithmetic for training: weights, adapters, gradients, optimizer, activations, overhead.

No torch, no files: engine.estimate feeds it a model shape and a job's settings. The per-token
activation figures were measured on transformers' Llama with autograd's saved-tensor hooks (fp32
and bf16, LoRA with and without dropout, all-linear, full; within 7% of the formulas below) and
are checked in tests against published 7B figures and against real CPU training peaks.

Assumptions, said once: full fine-tuning keeps fp32 master weights and fp32 AdamW states with a
16-bit autocast copy (mixed precision, what LLaMA-Factory's "120 GB for 7B" means); LoRA adapters
are fp32 (peft's default), QLoRA adapters bf16 (TRL's); 4-bit nf4 with double quantisation packs
the blocks' matrices at ~0.52 bytes a parameter and leaves embeddings and lm_head 16-bit. A
vision-language model's vision tower and projector are frozen and 16-bit in every method.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .shapes import ParamCount, Shape, count_params, lora_params

GIB = 1024**3
TIGHT = 0.85
NF4_BYTES = 0.5 + (1 + 4 / 256) / 64  # 4-bit codes + 8-bit absmax per 64 + fp32 second-level per 256
BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
OPTIMIZER_BYTES = {"adamw": 8.0, "paged_adamw_32bit": 8.0, "paged_adamw_8bit": 2.0 + 8 / 256}
SHARDED = ("fsdp", "deepspeed-zero3")
# On a CPU the process's resident memory peaks ~1.5x above the saved activations (autograd's
# temporaries, and freed blocks glibc keeps): measured from batch 2 → 4 → 8 on a 19M Llama.
CPU_RSS_FACTOR = 1.5


@dataclass(frozen=True)
class Settings:
    """What memory depends on, resolved from a job and a machine (no 'auto' left)."""

    method: str = "lora"  # lora | qlora | full
    precision: str = "bf16"  # bf16 | fp16 | fp32
    batch_size: int = 1
    max_length: int = 512
    gradient_checkpointing: bool = False
    optimizer: str = "adamw"
    lora_r: int = 8
    lora_dropout: float = 0.05
    targets: list[str] | str = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    accelerator: str = "cuda"  # cuda | npu | cpu
    devices: int = 1  # processes that share the work (world size)
    strategy: str = "none"  # none | ddp | fsdp | deepspeed-zero2 | deepspeed-zero3
    preference: bool = False  # dpo/kto: chosen and rejected both go through the model
    image_tokens: int = 0  # a VLM: the most tokens one image becomes (inside max_length, which caps the row)


@dataclass
class MemoryEstimate:
    """One method's memory on one device, in GiB, with the parts it adds up from."""

    method: str
    total_gb: float
    breakdown: dict[str, float]
    activations_gb: float  # what the settings use
    activations_no_checkpointing_gb: float
    activations_checkpointing_gb: float
    trainable_params: int
    strategy: str
    devices: int
    per: str = "device"  # "device" (one GPU), or "machine (RAM)" on a CPU, where processes share it
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _layer_activation_bytes(s: Shape, st: Settings) -> float:
    """Bytes one token leaves saved for backward in one decoder layer (measured, see module doc)."""
    a = BYTES[st.precision]
    h, q, kv, inter = s.hidden, s.q_dim, s.kv_dim, s.active_intermediate
    norms = 8 * h  # RMSNorm keeps its fp32 input, twice a layer
    if st.method == "full":
        return a * (3 * h + 3 * q + 2 * kv + 4 * inter) + norms
    saved = a * (2 * h + 2 * kv + 3 * inter) + norms
    shapes = {"q_proj": h, "k_proj": h, "v_proj": h, "o_proj": q, "gate_proj": h, "up_proj": h, "down_proj": inter}
    adapter = 2 if st.method == "qlora" else 4
    mask = 4 if st.accelerator == "cpu" else 1  # CPU dropout keeps a float mask, CUDA a bool one
    names = st.targets if isinstance(st.targets, list) else list(shapes)
    inputs: set[int] = set()
    for name in names:
        d = shapes.get(name.split(".")[-1], h)
        if st.lora_dropout > 0:
            saved += (adapter + mask) * d
        elif adapter != a:
            saved += adapter * d  # each adapter casts its input to its own dtype: one copy each
        elif d not in inputs:
            inputs.add(d)
            saved += adapter * d
    return saved


def _activations(s: Shape, st: Settings, checkpointing: bool) -> float:
    """Bytes of activations at the peak (start of backward), for the whole batch."""
    a = BYTES[st.precision]
    tokens = st.batch_size * st.max_length * (2 if st.preference else 1)
    layer = _layer_activation_bytes(s, st)
    # Backward holds one layer's gradients on top of what is saved; with checkpointing it first
    # recomputes that layer's activations as well.
    body = (a * s.hidden * s.layers + 2 * layer) if checkpointing else layer * (s.layers + 1)
    logits = s.vocab * (a + 12)  # logits, their fp32 upcast, log-softmax and its gradient
    return tokens * (body + logits)


def memory(s: Shape, st: Settings, params: ParamCount | None = None) -> MemoryEstimate:
    """GPU (or RAM) one process needs for this method and these settings."""
    p = params or count_params(s)
    a = BYTES[st.precision]
    notes: list[str] = []
    if st.method == "full":
        trainable = p.total - p.vision  # a VLM's vision tower and projector stay frozen, 16-bit
        weights = 4.0 * trainable + a * p.vision
        parts = {"weights": weights}
        if a == 2:
            parts["weights_16bit_copy"] = 2.0 * trainable  # autocast's cached casts, kept for backward
        grad_bytes = 4.0
        notes.append("full: fp32 master weights and AdamW states (mixed precision)")
    else:
        trainable, unknown = lora_params(s, st.targets, st.lora_r)
        if unknown:
            notes.append(f"LoRA targets not in this family's layout, counted as hidden×hidden: {', '.join(unknown)}")
        if st.method == "qlora":
            parts = {"weights": NF4_BYTES * p.linear + a * (p.total - p.linear)}
            adapter = 2
        else:
            parts = {"weights": float(a * p.total)}
            adapter = 4
        parts["lora"] = float(adapter * trainable)
        grad_bytes = float(adapter)
    parts["gradients"] = grad_bytes * trainable
    parts["optimizer"] = OPTIMIZER_BYTES.get(st.optimizer, 8.0) * trainable
    if st.preference and st.method == "full":
        parts["reference_model"] = float(a * p.total)  # LoRA's reference is the base with the adapter off

    shard = st.devices if st.strategy in SHARDED else 1
    if shard > 1:
        for key in ("weights", "weights_16bit_copy", "lora", "gradients", "optimizer", "reference_model"):
            if key in parts:
                parts[key] /= shard
        # The layer being computed is gathered whole (and the next one prefetched).
        parts["gathered_layers"] = 2 * a * (p.linear / s.layers)
    elif st.strategy == "deepspeed-zero2" and st.devices > 1:
        parts["gradients"] /= st.devices
        parts["optimizer"] /= st.devices
    if st.strategy == "ddp" and st.devices > 1:
        parts["ddp_buckets"] = grad_bytes * trainable  # gradients are copied into all-reduce buckets

    if st.image_tokens > st.max_length:
        notes.append(f"one image can become {st.image_tokens} tokens, more than train.max_length ({st.max_length}), "
                     "which caps a whole row: raise train.max_length or lower dataset.max_image_pixels")
    slack = CPU_RSS_FACTOR if st.accelerator == "cpu" else 1.0
    no_gc = slack * _activations(s, st, False)
    gc = slack * _activations(s, st, True)
    parts["activations"] = gc if st.gradient_checkpointing else no_gc
    allocated = sum(parts.values())
    if st.accelerator == "cpu":
        parts["framework"] = 0.75 * GIB  # python, torch, transformers, trl imported; the data and trainer
    else:
        # CUDA context and workspaces, and the caching allocator's slack (less, relatively, for big blocks).
        parts["framework"] = 0.8 * GIB + 0.05 * min(allocated, 40 * GIB)
    total = sum(parts.values())
    per = "device"
    if st.accelerator == "cpu":
        total *= st.devices  # CPU processes each hold their share in the same RAM
        per = "machine (RAM)"
    return MemoryEstimate(
        method=st.method,
        total_gb=round(total / GIB, 2),
        breakdown={k: round(v / GIB, 3) for k, v in parts.items()},
        activations_gb=round(parts["activations"] / GIB, 3),
        activations_no_checkpointing_gb=round(no_gc / GIB, 3),
        activations_checkpointing_gb=round(gc / GIB, 3),
        trainable_params=int(trainable),
        strategy=st.strategy,
        devices=st.devices,
        per=per,
        notes=notes,
    )


def all_methods(s: Shape, st: Settings) -> dict[str, MemoryEstimate]:
    """The same job as lora, qlora and full (what the wizard shows next to each choice)."""
    p = count_params(s)
    out = {}
    for method in ("lora", "qlora", "full"):
        out[method] = memory(s, replace(st, method=method), p)
    return out


@dataclass
class Verdict:
    level: str  # fits | tight | will not fit | unknown
    message: str
    fixes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def level(need: float, have: float) -> str:
    if have <= 0:
        return "unknown"
    if need > have:
        return "will not fit"
    return "tight" if need > TIGHT * have else "fits"


def _gb(need: float, have: float) -> str:
    return f"{need:.1f} GB" + (", tight" if need > TIGHT * have else "")


def fixes(s: Shape, st: Settings, have_gb: float) -> list[str]:
    """Changes to the job, one at a time, that bring it under `have_gb`, with the figure each gives."""
    p = count_params(s)

    def need(candidate: Settings) -> float:
        return memory(s, candidate, p).total_gb

    out: list[str] = []
    if not st.gradient_checkpointing and (n := need(replace(st, gradient_checkpointing=True))) <= have_gb:
        out.append(f"train.gradient_checkpointing: true ({_gb(n, have_gb)})")
    for batch in range(st.batch_size - 1, 0, -1):
        if (n := need(replace(st, batch_size=batch))) <= have_gb:
            out.append(f"train.batch_size: {batch}, with grad_accum raised to keep the effective batch ({_gb(n, have_gb)})")
            break
    if st.method == "full" and (n := need(replace(st, method="lora"))) <= have_gb:
        out.append(f"train.method: lora ({_gb(n, have_gb)})")
    if st.method != "qlora" and st.accelerator != "npu":
        if (n := need(replace(st, method="qlora"))) <= have_gb:
            out.append(f"train.method: qlora ({_gb(n, have_gb)})")
    if st.method == "full" and st.optimizer != "paged_adamw_8bit" and st.accelerator == "cuda":
        if (n := need(replace(st, optimizer="paged_adamw_8bit"))) <= have_gb:
            out.append(f"train.optimizer: paged_adamw_8bit ({_gb(n, have_gb)})")
    if st.devices > 1 and st.strategy not in SHARDED and (n := need(replace(st, strategy="fsdp"))) <= have_gb:
        out.append(f"parallel.strategy: fsdp, sharding the model over {st.devices} devices ({_gb(n, have_gb)})")
    length = st.max_length // 2
    while length >= 256:
        if (n := need(replace(st, max_length=length))) <= have_gb:
            out.append(f"train.max_length: {length} ({_gb(n, have_gb)})")
            break
        length //= 2
    if not out:
        out.append(_combined(st, need, have_gb))
    return out


def _combined(st: Settings, need: Any, have_gb: float) -> str:
    """No single change is enough: stack them, cheapest first, until the job fits (or cannot)."""
    steps: list[tuple[str, str, Settings]] = []  # (field, label, settings after it)
    cur = st
    if not cur.gradient_checkpointing:
        cur = replace(cur, gradient_checkpointing=True)
        steps.append(("gc", "train.gradient_checkpointing: true", cur))
    if cur.method != "qlora" and cur.accelerator != "npu":
        cur = replace(cur, method="qlora")
        steps.append(("method", "train.method: qlora", cur))
    if cur.batch_size > 1:
        cur = replace(cur, batch_size=1)
        steps.append(("batch", "train.batch_size: 1", cur))
    while cur.max_length > 512:
        cur = replace(cur, max_length=max(512, cur.max_length // 2))
        steps.append(("length", f"train.max_length: {cur.max_length}", cur))

    def labels(upto: int) -> str:
        last = {key: label for key, label, _ in steps[:upto]}  # a field changed twice shows its last value
        return " + ".join(last.values())

    for i, (_, _, candidate) in enumerate(steps):
        if (n := need(candidate)) <= have_gb:
            return f"{labels(i + 1)} ({_gb(n, have_gb)})"
    return f"a smaller model or a device with more memory: even {labels(len(steps)) or 'this'} needs {need(cur):.1f} GB"


def judge_memory(s: Shape, st: Settings, est: MemoryEstimate, have_gb: float) -> Verdict:
    where = "of RAM" if st.accelerator == "cpu" else "per device"
    lvl = level(est.total_gb, have_gb)
    if lvl == "unknown":
        return Verdict(lvl, f"{st.method} needs about {est.total_gb:.1f} GB {where}; device memory unknown")
    figure = f"{st.method} needs about {est.total_gb:.1f} GB {where}, {have_gb:.1f} GB available"
    if lvl == "will not fit":
        found = fixes(s, st, have_gb)
        return Verdict(lvl, f"will not fit: {figure}; try {found[0]}", found)
    if lvl == "tight":
        return Verdict(lvl, f"tight: {figure} (over {TIGHT:.0%}); other programs on the device may push it over")
    return Verdict(lvl, f"fits: {figure}")
