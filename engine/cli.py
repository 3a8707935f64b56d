"""`python -m engine VERB ...`: one command map, read by the parser and checked by a test (litgpt style).

User errors print their lines and exit 2; internal failures exit 1 with the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from .errors import UserError

COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("engine.commands.validate", "check a job file; one line per problem"),
    "plan": ("engine.commands.plan", "show stages, outputs, hardware and estimates without running"),
    "run": ("engine.commands.run", "run a job headless, resuming what is done"),
    "status": ("engine.commands.status", "what each stage of a job did"),
    "tiny": ("engine.commands.tiny", "build the random tiny test model into a folder"),
    "models": ("engine.commands.models", "the model catalogue: IDs, sizes, memory per method (--search TEXT)"),
    "serve": ("engine.commands.serve", "serve a model folder as an OpenAI-compatible API (foreground)"),
    "demo": ("engine.commands.demo", "the whole pipeline offline on the builtin model (--tiny: in under a minute)"),
    "stop": ("engine.commands.stop", "stop the server a job's deploy stage started"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yichuidingyin",
        description="yichuidingyin (一锤定音): fine-tune, align, quantise and serve an LLM from one job file.",
        epilog="Exit status: 0 success, 2 a mistake in the job or its inputs, 1 an internal failure.",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip())
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.main(args) or 0)
    except UserError as exc:
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print("internal error: this is a bug in yichuidingyin; the traceback above helps to report it", file=sys.stderr)
        return 1
