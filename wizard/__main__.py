"""`./yichuidingyin.sh [--plain] [--job FILE]`: the wizard that writes (and runs) jobs/<name>/job.yaml.

Opens the Textual TUI, or with --plain the same steps as plain prompts. --job FILE pre-fills
every answer from an existing job; if that job is running right now, it reattaches to it instead.
Imports only what the chosen front end needs, so the first screen appears fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="yichuidingyin.sh",
        description="The wizard: task, model, data and settings → jobs/<name>/job.yaml, then run it.",
    )
    p.add_argument("--plain", action="store_true", help="plain prompts instead of the full-screen TUI")
    p.add_argument("--job", type=Path, metavar="FILE", help="start from an existing job file (edit and re-run)")
    p.add_argument("--lang", choices=("en", "zh"), help="language (default: from LANG; zh_* → 中文)")
    return p.parse_args(argv)


def load(path: Path) -> tuple[object, Path | None]:
    """The Draft for a job file, and its job.yaml when that job is running now (to reattach)."""
    from engine.render import load_job

    from . import jobs
    from .draft import Draft

    spec = load_job(path)
    job_dir = path.resolve().parent if path.name == jobs.JOB_FILE and path.resolve().parent.name == spec.name \
        else jobs.job_file(spec.name).parent
    running = jobs.runner_pid(job_dir) is not None
    return Draft.from_spec(spec, source=path.resolve()), (job_dir / jobs.JOB_FILE if running else None)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    from . import i18n

    i18n.set_lang(args.lang or i18n.detect())
    draft, attach = None, None
    if args.job is not None:
        from engine.errors import UserError

        try:
            draft, attach = load(args.job)
        except UserError as exc:
            for line in exc.lines:
                print(f"error: {line}", file=sys.stderr)
            return 2
    if args.plain:
        from .plain import run_plain

        return run_plain(draft, attach)  # type: ignore[arg-type]
    from .app import WizardApp

    outcome = WizardApp(draft, attach).run()  # type: ignore[arg-type]
    if outcome is not None and outcome.message:
        print(outcome.message)
    return 0 if outcome is None or outcome.state in ("saved", "finished", "detached", "stopped", "quit") else 1


if __name__ == "__main__":
    sys.exit(main())
