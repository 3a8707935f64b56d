"""eval: score the base, fine-tuned and exported models side by side, with the same prompts and greedy decoding.

Every benchmark file is read and checked first (a bad line stops the stage before any model loads),
then each model that exists is loaded once, in turn, and asked everything. Writes eval/report.json,
report.md (the table), chart.png and generations.jsonl (the answers, so the numbers can be recomputed)
in one rename. The stage passes its input model on unchanged (leaves "same"), so deploy still serves
the export or the merged model.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..context import Context, StagePlan, model_source
from ..files import EVAL_REPORT, JobFiles
from ..spec import JobSpec
from ..spec.stages import MODEL_FOLDERS
from ..util.fs import temporary_dir, write_json_atomic, write_text_atomic

NAME = "eval"


def spec_slice(spec: JobSpec) -> Any:
    return {
        "eval": spec.eval.model_dump(mode="json"),
        "dataset": spec.dataset.model_dump(mode="json"),  # held-out rows and the identity probe come from it
        "seed": spec.train.seed,
        "precision": spec.train.precision,
        "trust_remote_code": spec.model.trust_remote_code,
        "files": _file_hashes(spec),  # editing a benchmark file scores again, like editing the job
    }


def _file_hashes(spec: JobSpec) -> dict[str, str]:
    from ..util.fs import sha256_file

    entries = [*spec.eval.benchmarks, *([spec.eval.dataset] if spec.eval.dataset else [])]
    return {e: sha256_file(Path(e)) for e in entries if Path(e).is_file()}


def outputs(spec: JobSpec, job_dir: Path) -> list[Path]:
    folder = JobFiles(job_dir).stage_dir(NAME)
    return [folder, folder / EVAL_REPORT]


def current(spec: JobSpec, job_dir: Path) -> bool:
    return True


def unavailable(spec: JobSpec) -> str | None:
    if spec.eval.evalscope:
        from ..eval import evalscope

        if not evalscope.available():
            return evalscope.missing_message()
    return None


def columns(spec: JobSpec, ctx: Context) -> dict[str, Path]:
    """The models to score: base, fine-tuned (merged or full fine-tune) and export, each only where it exists."""
    earlier = ctx.earlier()
    out: dict[str, Path] = {}
    if ctx.state.stage("download").get("status") == "done":
        out["base"] = ctx.base_model_dir()
    trained = model_source(spec, [n for n in earlier if n != "export"])
    if trained and trained != "download" and ctx.state.stage(trained).get("status") == "done":
        out["fine-tuned"] = ctx.job_dir / MODEL_FOLDERS[trained]
    if "export" in earlier and ctx.state.stage("export").get("status") == "done":
        out["export"] = ctx.files.stage_dir("export")
    return out


def _planned_columns(spec: JobSpec, ctx: Context) -> list[str]:
    earlier = ctx.earlier()
    cols = ["base"] if "download" in earlier else []
    trained = model_source(spec, [n for n in earlier if n != "export"])
    if trained and trained != "download":
        cols.append("fine-tuned")
    if "export" in earlier:
        cols.append("export")
    return cols


def plan(spec: JobSpec, ctx: Context) -> StagePlan:
    from ..eval.benchmarks import load_all

    benches = load_all(spec)  # a bad file or an unknown name stops here, before any model loads
    cols = _planned_columns(spec, ctx)
    shown = ", ".join(f"{b.name} ({len(b.items)})" for b in benches)
    extra = f"; EvalScope: {', '.join(spec.eval.evalscope)}" if spec.eval.evalscope else ""
    return StagePlan(
        NAME,
        f"score {' / '.join(cols) or 'the model'} with greedy decoding on {shown or 'nothing'}{extra}; "
        "report.md holds the table",
        [str(ctx.files.stage_dir(NAME))],
        estimate={"items": sum(len(b.items) for b in benches), "models": len(cols)},
    )


def run(spec: JobSpec, ctx: Context) -> dict[str, Any]:
    from ..eval import report as rep
    from ..eval.benchmarks import load_all
    from ..eval.score import Settings, score_model
    from ..training import quiet_libraries

    started = time.time()
    benches = load_all(spec)
    cols = columns(spec, ctx)
    if not cols:
        from ..errors import UserError

        raise UserError("eval: no model to score; run download (and training) first")
    quiet_libraries()
    e = spec.eval
    settings = Settings(e.max_new_tokens, e.batch_size, ctx.hardware.precision(spec.train.precision),
                        "cuda" if ctx.hardware.gpus else "cpu", spec.model.trust_remote_code,
                        spec.dataset.max_image_pixels)  # vision-language models: held-out rows with their pictures
    ctx.log(f"scoring {', '.join(cols)} on {', '.join(f'{b.name} ({len(b.items)})' for b in benches)}")
    results: dict[str, dict[str, dict[str, Any]]] = {}
    seconds: dict[str, float] = {}
    for col, path in cols.items():
        at = time.time()
        ctx.log(f"scoring the {col} model ({path})")
        results[col] = score_model(path, benches, settings, ctx.emit, col)
        seconds[col] = round(time.time() - at, 2)
        ctx.emit("metric", model=col, **{f"eval/{n}": r["metrics"][b.metric]
                                         for b in benches for n, r in results[col].items() if n == b.name})
    extra: dict[str, Any] = {"settings": e.model_dump(mode="json"), "device": settings.device,
                             "precision": settings.precision}
    final = ctx.files.stage_dir(NAME)
    with temporary_dir(final) as tmp:
        if e.evalscope and cols:
            extra["evalscope"] = _evalscope(spec, ctx, cols, tmp / "evalscope")
        seconds["total"] = round(time.time() - started, 2)
        extra["seconds"] = seconds
        report = rep.build(benches, results, {c: str(p) for c, p in cols.items()}, extra)
        for col, scores in extra.get("evalscope", {}).items():
            for ds, value in scores.items():
                report["table"].append({"benchmark": f"evalscope/{ds}", "metric": "score", col: value})
        write_text_atomic(tmp / rep.GENERATIONS, "".join(line + "\n" for line in rep.generation_lines(results)))
        write_json_atomic(tmp / EVAL_REPORT, report)
        write_text_atomic(tmp / rep.MARKDOWN, rep.markdown(report))
        rep.chart(report, tmp / rep.CHART)
    ctx.log(f"eval report: {final / rep.MARKDOWN}")
    if "export" in cols:
        _into_model_card(cols["export"], rep.markdown(report))
    for line in rep.markdown(report).splitlines():
        if line.startswith("|"):
            ctx.log(line)
    summary = {row["benchmark"]: {c: row.get(c) for c in cols} for row in report["table"] if row["metric"] != "perplexity"}
    return {"path": str(final), "report": str(final / EVAL_REPORT), "summary": summary}


CARD_SECTION = "\n## Evaluation (base / fine-tuned / this export)\n\n"


def _into_model_card(export_dir: Path, table: str) -> None:
    """The export's model card gets the eval table (eval runs after export, so it is added here, in one write)."""
    card = export_dir / "README.md"
    if not card.is_file():
        return
    text = card.read_text(encoding="utf-8").split(CARD_SECTION)[0].rstrip("\n") + "\n"
    body = table.strip().removeprefix("# Evaluation").strip()
    write_text_atomic(card, text + CARD_SECTION + body + "\n")


def _evalscope(spec: JobSpec, ctx: Context, cols: dict[str, Path], work: Path) -> dict[str, dict[str, float]]:
    from ..eval import evalscope

    out = {}
    for col, path in cols.items():
        ctx.log(f"EvalScope on {col}: {', '.join(spec.eval.evalscope)}")
        out[col] = evalscope.run(path, spec.eval.evalscope, spec.eval.limit, work / col, spec.eval.max_new_tokens,
                                 spec.eval.batch_size)
    return out
