"""The eval report: report.json (every figure), report.md (the table), chart.png, generations.jsonl.

The table is benchmark × base / fine-tuned / export on each benchmark's main metric, with deltas:
fine-tuned against base (what training changed), export against fine-tuned (what quantisation kept).
`recompute` rebuilds every figure from generations.jsonl alone, so the numbers can be checked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..files import EVAL_CHART, EVAL_GENERATIONS, EVAL_TABLE
from .items import MAIN_METRIC, Benchmark
from .score import metrics

COLUMNS = ("base", "fine-tuned", "export")
GENERATIONS, MARKDOWN, CHART = EVAL_GENERATIONS, EVAL_TABLE, EVAL_CHART
LOWER_IS_BETTER = {"perplexity"}


def generation_lines(results: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """One JSON line per (model, benchmark, item): the raw answers and log-probabilities."""
    lines = []
    for model, benches in results.items():
        for name, result in benches.items():
            for rec in result["records"]:
                lines.append(json.dumps({"model": model, "benchmark": name, "kind": result["kind"], **rec},
                                        ensure_ascii=False, sort_keys=True))
    return lines


def recompute(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """{benchmark: {model: metrics}} from a generations.jsonl file alone."""
    grouped: dict[tuple[str, str], tuple[str, list[dict[str, Any]]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        key = (rec.pop("benchmark"), rec.pop("model"))
        grouped.setdefault(key, (rec.pop("kind"), []))[1].append(rec)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (bench, model), (kind, recs) in grouped.items():
        out.setdefault(bench, {})[model] = metrics(kind, recs)
    return out


def _delta(new: float | None, old: float | None) -> float | None:
    return None if new is None or old is None else round(new - old, 6)


def table(scores: dict[str, dict[str, dict[str, Any]]], kinds: dict[str, str]) -> list[dict[str, Any]]:
    """Rows of the report's table: each benchmark's main metric (and the held-out perplexity)."""
    rows = []
    for bench, by_model in scores.items():
        kind = kinds[bench]
        wanted = [MAIN_METRIC[kind]] + (["perplexity"] if kind == "heldout" else [])
        for metric in wanted:
            values = {m: by_model[m].get(metric) for m in COLUMNS if m in by_model}
            ft, base, ex = values.get("fine-tuned"), values.get("base"), values.get("export")
            rows.append({"benchmark": bench, "metric": metric, **values,
                         "delta_fine_tuned": _delta(ft, base),
                         "delta_export": _delta(ex, ft if "fine-tuned" in values else base)})
    return rows


def build(benchmarks: Sequence[Benchmark], results: dict[str, dict[str, dict[str, Any]]],
          models: dict[str, str], extra: dict[str, Any]) -> dict[str, Any]:
    """report.json's content from what score_model returned for each model column."""
    scores: dict[str, dict[str, dict[str, Any]]] = {}
    for b in benchmarks:
        scores[b.name] = {m: results[m][b.name]["metrics"] for m in COLUMNS if m in results and b.name in results[m]}
    kinds = {b.name: b.kind for b in benchmarks}
    return {
        "models": {m: {"path": models[m]} for m in COLUMNS if m in models},
        "benchmarks": [{"name": b.name, "kind": b.kind, "source": b.source, "metric": b.metric, "n": len(b.items)}
                       for b in benchmarks],
        "scores": scores,
        "table": table(scores, kinds),
        "generations": GENERATIONS,
        **extra,
    }


def _shown(metric: str, value: float | None, delta: bool = False) -> str:
    if value is None:
        return "–"
    if metric in LOWER_IS_BETTER:
        return f"{value:+.2f}" if delta else f"{value:.2f}"
    return f"{100 * value:+.1f}" if delta else f"{100 * value:.1f}"


def markdown(report: dict[str, Any]) -> str:
    """The table an operator reads: scores in % (perplexity as is), deltas in points."""
    cols = [m for m in COLUMNS if m in report["models"]]
    head = ["benchmark", "metric"]
    for m in cols:
        head.append(m)
        if m == "fine-tuned" and "base" in cols:
            head.append("Δ vs base")
        if m == "export" and len(cols) > 1:
            head.append("Δ vs fine-tuned" if "fine-tuned" in cols else "Δ vs base")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in report["table"]:
        metric = row["metric"]
        cells = [row["benchmark"], metric + (" (lower is better)" if metric in LOWER_IS_BETTER else " %")]
        for m in cols:
            cells.append(_shown(metric, row.get(m)))
            if m == "fine-tuned" and "base" in cols:
                cells.append(_shown(metric, row.get("delta_fine_tuned"), delta=True))
            if m == "export" and len(cols) > 1:
                cells.append(_shown(metric, row.get("delta_export"), delta=True))
        lines.append("| " + " | ".join(cells) + " |")
    sizes = ", ".join(f"{b['name']} {b['n']}" for b in report["benchmarks"])
    return "\n".join([
        "# Evaluation", "",
        *([f"Not scored: {report['skipped']}", ""] if report.get("skipped") else []),
        "Same prompts, greedy decoding, for every model. Scores in % (higher is better) unless marked.", "",
        *lines, "",
        f"Items per benchmark: {sizes}. Answers and log-probabilities: {report['generations']}.", "",
    ])


def chart(report: dict[str, Any], path: Path) -> None:
    """A grouped bar chart of the main metrics (perplexity left out: another scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["table"] if r["metric"] not in LOWER_IS_BETTER]
    cols = [m for m in COLUMNS if m in report["models"]]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(rows) + 2), 4.0), dpi=100)
    width = 0.8 / max(1, len(cols))
    for i, m in enumerate(cols):
        xs = [j + (i - (len(cols) - 1) / 2) * width for j in range(len(rows))]
        ax.bar(xs, [100 * (r.get(m) or 0.0) for r in rows], width, label=m)
    ax.set_xticks(range(len(rows)), [r["benchmark"] for r in rows], rotation=20, ha="right")
    ax.set_ylabel("score %")
    ax.set_ylim(0, 100)
    if cols:
        ax.legend()
    ax.set_title("base vs fine-tuned vs export")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
