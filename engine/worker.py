"""One rank of a multi-process training stage: `python -m engine.worker JOB_DIR STAGE`.

torchrun starts this on every rank. It re-enters the very `train` function that a single
process runs, with the spec, preparation and layout the parent wrote to launch/<stage>/run.json.
Each machine's local rank 0 writes the result (or the error) for that machine's parent; events come
from global rank 0 only (EventLog).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

from . import hardware, stages
from .context import Context
from .errors import UserError
from .events import EventLog
from .files import JobFiles
from .spec import JobSpec
from .state import State
from .training import launch
from .training.execute import RUN, write_result
from .training.launch import Layout


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m engine.worker JOB_DIR STAGE", file=sys.stderr)
        return 2
    job_dir, stage = Path(args[0]).resolve(), args[1]
    data = json.loads((launch.run_dir(job_dir, stage) / RUN).read_text(encoding="utf-8"))
    spec = JobSpec.model_validate(data["spec"])
    layout = Layout(**data["layout"])
    ctx = Context(spec=spec, job_dir=job_dir, events=EventLog(JobFiles(job_dir).events), state=State.load(job_dir),
                  hardware=hardware.detect(job_dir), stage=stage)
    main_rank = int(os.environ.get("LOCAL_RANK", "0")) == 0  # each machine's parent reads its own result
    try:
        outputs = stages.load(stage).train(spec, ctx, layout, data["prep"])
    except UserError as exc:
        if main_rank:
            write_result(job_dir, stage, {"error": exc.lines, "user": True})
        print("\n".join(exc.lines), file=sys.stderr)
        return 2
    except Exception as exc:
        trace = traceback.format_exc()
        if main_rank:
            write_result(job_dir, stage, {"error": [f"{type(exc).__name__}: {exc}"], "traceback": trace})
        print(trace, file=sys.stderr)
        return 1
    if main_rank:
        write_result(job_dir, stage, {"outputs": outputs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
