"""Build the random 2-layer Llama (or, with --vision, a tiny VLM) with a real trained tokenizer, offline, in seconds."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", type=Path, help="folder to write the model into")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed")
    p.add_argument("--vision", choices=("qwen2-vl", "internvl", "llava"), default=None,
                   help="build a tiny vision-language model of this family instead (real processor, image tokens)")


def main(args: argparse.Namespace) -> int:
    if args.vision:
        from ..tiny_vlm import build_tiny_vlm

        path = build_tiny_vlm(args.dir, args.vision, seed=args.seed)
        print(f"tiny {args.vision} vision-language model (random weights) written to {path}")
        return 0
    from ..tiny import build_tiny_model

    path = build_tiny_model(args.dir, seed=args.seed)
    print(f"tiny model written to {path}")
    return 0
