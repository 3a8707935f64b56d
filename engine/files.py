"""The names of the files and folders in a job folder (jobs/<name>/): nothing else spells them.

A reader that only has the job folder (the wizard's run screen, `status`, `stop`, a test) and the
engine that writes it agree by importing these names; a stage's output folder comes from the stage
table (engine.spec.stages), so a stage added there gets its folder here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .spec.stages import FACTS

JOB_FILE = "job.yaml"
STATE_FILE = "state.json"
EVENTS_FILE = "events.jsonl"
LOCK_FILE = ".lock"
MODEL_MANIFEST = "model.json"  # what download resolved: where the model is, its files and hashes
SERVE_FILE = "serve.json"  # the server the deploy stage started: url, pid, start time
SERVE_LOG = "serve.log"
RUN_LOG = "run.log"  # what a runner started by the wizard prints
API_KEY_FILE = "api_key"  # the demo's generated key (mode 600)
CHECKPOINTS = "checkpoints"
LOGS = "logs"
LAUNCH = "launch"
RUNS = "runs"  # experiment-tracker logs (train.report_to: tensorboard), one folder per stage
LOSS_PLOT = "loss.png"  # inside a training stage's output folder: train/eval loss and learning rate
DPO_BASE = "dpo-base"  # the SFT adapter merged into its base, which DPO trains on
EXPORT_REJECTED = "export.rejected.json"  # figures of an export that failed its gate
EXPORT_REPORT = "report.json"  # inside export/
EVAL_REPORT = "report.json"  # inside eval/
EVAL_TABLE = "report.md"  # inside eval/: base / fine-tuned / export side by side
EVAL_CHART = "chart.png"  # inside eval/
EVAL_GENERATIONS = "generations.jsonl"  # inside eval/: every answer, so the figures can be recomputed


@dataclass(frozen=True)
class JobFiles:
    """Paths in one job folder."""

    root: Path

    @property
    def job(self) -> Path:
        return self.root / JOB_FILE

    @property
    def state(self) -> Path:
        return self.root / STATE_FILE

    @property
    def events(self) -> Path:
        return self.root / EVENTS_FILE

    @property
    def lock(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def manifest(self) -> Path:
        return self.root / MODEL_MANIFEST

    @property
    def serve(self) -> Path:
        return self.root / SERVE_FILE

    @property
    def serve_log(self) -> Path:
        return self.root / SERVE_LOG

    @property
    def api_key(self) -> Path:
        return self.root / API_KEY_FILE

    @property
    def dpo_base(self) -> Path:
        return self.root / DPO_BASE

    @property
    def export_rejected(self) -> Path:
        return self.root / EXPORT_REJECTED

    @property
    def checkpoints_root(self) -> Path:
        return self.root / CHECKPOINTS

    @property
    def runs(self) -> Path:
        return self.root / RUNS

    def stage_dir(self, stage: str) -> Path:
        """A stage's output folder (from the stage table)."""
        folder = FACTS[stage].folder
        if folder is None:
            raise KeyError(f"stage {stage} writes no folder of its own")
        return self.root / folder

    def checkpoints(self, stage: str) -> Path:
        return self.root / CHECKPOINTS / stage

    def log(self, stage: str) -> Path:
        return self.root / LOGS / f"{stage}.log"

    def launch(self, stage: str) -> Path:
        return self.root / LAUNCH / stage
