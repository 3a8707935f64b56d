"""Build the random 2-layer Llama with a real trained tokenizer (offline, seconds) into a folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", type=Path, help="folder to write the model into")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed")


def main(args: argparse.Namespace) -> int:
    from ..tiny import build_tiny_model

    path = build_tiny_model(args.dir, seed=args.seed)
    print(f"tiny model written to {path}")
    return 0
