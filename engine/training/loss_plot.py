"""loss.png in a training stage's output folder: train and eval loss, and the learning rate, by step.

Drawn from the Trainer's log_history when the stage ends, with matplotlib's Agg backend (no display
needed), so an operator can see at a glance whether the loss fell without opening a tracker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..files import LOSS_PLOT


def series(history: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    points = [(h["step"], h[key]) for h in history if key in h and "step" in h]
    return [p[0] for p in points], [p[1] for p in points]


def write(history: list[dict[str, Any]], folder: Path, title: str) -> Path | None:
    """Write folder/loss.png; None when there is nothing logged to draw."""
    train, evals, lr = series(history, "loss"), series(history, "eval_loss"), series(history, "learning_rate")
    if not train[0] and not evals[0]:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, loss_ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        if train[0]:
            loss_ax.plot(*train, label="train loss", color="tab:blue")
        if evals[0]:
            loss_ax.plot(*evals, label="eval loss", color="tab:orange", marker="o")
        loss_ax.set_xlabel("step")
        loss_ax.set_ylabel("loss")
        loss_ax.set_title(title)
        handles, labels = loss_ax.get_legend_handles_labels()
        if lr[0]:
            lr_ax = loss_ax.twinx()
            lr_ax.plot(*lr, label="learning rate", color="tab:green", linestyle="--")
            lr_ax.set_ylabel("learning rate")
            more = lr_ax.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        loss_ax.legend(handles, labels, loc="upper right")
        fig.tight_layout()
        path = folder / LOSS_PLOT
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path
