"""List the model catalogue: IDs on both hubs, size, context, chat template and minimum GPU memory.

Memory is the smallest each method needs on one GPU (batch 1, 1024 tokens, gradient
checkpointing, bf16, LoRA r 8), from engine/estimate.py. `--search` keeps entries that match
every word (e.g. --search "qwen 7b"); `--json` prints everything the wizard reads.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UserError
from ..registry import lookup, resolve_local, search
from ..registry.info import ModelInfo


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--search", "-s", default="", metavar="TEXT", help="only entries matching every word of TEXT")
    p.add_argument("--show", metavar="ID_OR_FOLDER", help="everything known about one model ID or a model folder")
    p.add_argument("--ready", action="store_true", help="leave out the models marked 'coming'")
    p.add_argument("--json", action="store_true", help="print the entries as JSON")


def _row(info: ModelInfo) -> str:
    mem = info.min_gpu_gb()
    memory = "  ".join(f"{m} {mem[m]:>5.1f}" for m in ("qlora", "lora", "full") if m in mem) or "?"
    ctx = f"{info.context_length // 1024}k" if info.context_length else "?"
    flags = []
    if info.status != "ready":
        flags.append(info.status)
    if info.modality == "vision":
        flags.append("images + text")
    if info.gated:
        flags.append("gated on " + "/".join(info.gated))
    if info.trust_remote_code:
        flags.append("remote code")
    ms = info.modelscope_id if info.modelscope_id and info.modelscope_id != info.id else ""
    tail = f"  [{', '.join(flags)}]" if flags else ""
    alias = f"  (ModelScope: {ms})" if ms else ""
    return f"{info.id:<44} {info.size_label:>6} {ctx:>5} {info.chat_template or '-':<11} {memory}{tail}{alias}"


def main(args: argparse.Namespace) -> int:
    if args.show:
        info = lookup(args.show)
        if info is None and Path(args.show).is_dir():
            try:
                info = resolve_local(args.show)
            except ValueError as exc:
                raise UserError(f"{args.show}: {exc}") from None
        if info is None:
            raise UserError(f"{args.show}: not in the catalogue and not a model folder; try --search")
        print(json.dumps(info.to_dict(), indent=2, ensure_ascii=False, default=str))
        return 0
    found = search(args.search, include_coming=not args.ready)
    if args.json:
        print(json.dumps([i.to_dict() for i in found], indent=2, ensure_ascii=False, default=str))
        return 0
    if not found:
        raise UserError(f"--search {args.search!r}: no catalogue entry matches; any hub ID works in a job too")
    print(f"{'model (Hugging Face ID)':<44} {'size':>6} {'ctx':>5} {'template':<11} minimum GPU GB per method")
    family = None
    for info in found:
        if info.family != family:
            family = info.family
            print(f"-- {family}")
        print(_row(info))
    print(f"{len(found)} models. Any other hub ID or a local folder works too; `--show ID` for details.")
    return 0
