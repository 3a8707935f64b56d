"""From eval.benchmarks and the job's data to Benchmarks: shipped names, user files, held-out rows.

Everything is read and checked here, before any model loads, so a bad file or an unknown name stops
the job with file:line (or "did you mean") instead of after an hour of scoring.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..spec import JobSpec
from . import identity
from .instructions import read_instructions
from .items import Benchmark, Item
from .readers import read_mcq, read_qa

HERE = Path(__file__).resolve().parent / "builtin"
HELD_OUT = "held-out"
HELD_OUT_PREFERENCE = "held-out-preference"


@dataclass(frozen=True)
class Shipped:
    kind: str
    file: str | None  # under engine/eval/builtin/; None: built from the job (identity)
    lang: str
    about: str


SHIPPED: dict[str, Shipped] = {
    "identity": Shipped("identity", None, "en+zh", "names the identity the job taught (dataset.model_name), 12 "
                        "questions not in the training rows"),
    "mcq-en": Shipped("mcq", "mcq-en.csv", "en", "general knowledge, multiple choice"),
    "mcq-zh": Shipped("mcq", "mcq-zh.csv", "zh", "常识单选题"),
    "qa-en": Shipped("qa", "qa-en.jsonl", "en", "short factual answers"),
    "qa-zh": Shipped("qa", "qa-zh.jsonl", "zh", "简短问答"),
    "instructions": Shipped("instructions", "instructions.jsonl", "en+zh",
                            "verifiable instructions (word limits, bullets, JSON, …), checked by code"),
}


def is_file_entry(entry: str) -> bool:
    return "/" in entry or entry.startswith((".", "~")) or Path(entry).suffix.lower() in (".csv", ".jsonl", ".json")


def unknown(entry: str) -> UserError:
    close = difflib.get_close_matches(entry, list(SHIPPED), n=1, cutoff=0.5)
    hint = f"did you mean {close[0]}? " if close else ""
    return UserError(f"eval.benchmarks: unknown benchmark {entry!r}; {hint}shipped: {', '.join(SHIPPED)}; "
                     "or give the path to a general_mcq .csv or general_qa .jsonl file")


def _file_kind(path: Path) -> str:
    if path.suffix.lower() == ".csv":
        return "mcq"
    try:
        with open(path, encoding="utf-8-sig") as fh:
            first = next((line for line in fh if line.strip()), "")
        return "instructions" if "rules" in json.loads(first) else "qa"
    except (OSError, ValueError, TypeError):
        return "qa"  # the reader reports the real problem with its line


def _read(kind: str, path: Path, lang: str) -> list[Item]:
    if kind == "mcq":
        return read_mcq(path, lang)
    if kind == "instructions":
        return read_instructions(path)
    return read_qa(path, lang)


def resolve(entry: str, spec: JobSpec) -> Benchmark:
    """One eval.benchmarks entry, read and checked."""
    if entry in SHIPPED:
        s = SHIPPED[entry]
        if s.file is None:
            return Benchmark(entry, "identity", "built from dataset.model_name", identity.probe(spec.dataset))
        return Benchmark(entry, s.kind, f"shipped {entry}", _read(s.kind, HERE / s.file, s.lang.split("+")[0]))
    if not is_file_entry(entry):
        raise unknown(entry)
    path = Path(entry).expanduser()
    kind = _file_kind(path) if path.is_file() else ("mcq" if path.suffix.lower() == ".csv" else "qa")
    return Benchmark(path.name, kind, str(path), _read(kind, path, "en"))  # type: ignore[arg-type]


def _split_messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, str]], str] | None:
    """Prompt (everything before the last assistant turn) and that turn's text; None for non-text rows."""
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
    if last is None or not all(isinstance(m.get("content"), str) for m in messages[: last + 1]):
        return None
    return [dict(m) for m in messages[:last]], messages[last]["content"]


def _text(turns: Any) -> str | None:
    from .image_items import content_text

    content = turns[-1].get("content") if isinstance(turns, list) and turns and isinstance(turns[-1], dict) else None
    return content_text(content) if isinstance(content, (str, list)) else None


def supervised_items(rows: list[Any], where: str) -> list[Item]:
    """Chat rows (lists of messages) and image rows ({"messages", "images"}) as prompt + reference items."""
    from .image_items import row_item

    items = []
    for i, row in enumerate(rows, start=1):
        if isinstance(row, dict):
            item = row_item(row, i, where)
            items.extend([item] if item is not None else [])
            continue
        split = _split_messages(row)
        if split is not None and split[0]:
            items.append(Item(id=str(i), prompt=split[0], reference=split[1], where=where))
    return items


def preference_items(rows: list[dict[str, Any]], where: str) -> list[Item]:
    from .image_items import attach

    items = []
    for i, row in enumerate(rows, start=1):
        chosen, rejected = _text(row.get("chosen")), _text(row.get("rejected"))
        if chosen is not None and rejected is not None and isinstance(row.get("prompt"), list):
            prompt = attach(row["prompt"], list(row.get("images") or []))  # image rows: pictures in their parts
            items.append(Item(id=str(i), prompt=prompt, reference=chosen, rejected=rejected, where=where))
    return items


def held_out(spec: JobSpec) -> list[Benchmark]:
    """The job's own held-out rows: eval.dataset, else what dataset.val_ratio held back (both kinds)."""
    from ..data.preference import to_preference
    from ..data.source import Identity, collect
    from ..data.source import resolve as resolve_source

    out: list[Benchmark] = []
    if spec.eval.dataset:
        from ..data.formats import to_messages

        source = resolve_source(spec.eval.dataset)
        probe_fmt, _, _ = collect(source, None, "auto", Identity.of(spec.dataset), lambda f, r, p: None)
        preference = probe_fmt in ("dpo", "kto")
        kind = "preference" if preference else "sft"
        convert = to_preference if preference else to_messages
        from ..data.multimodal import Converter, uniform

        converter = Converter(spec.dataset.max_image_pixels)  # image rows: every picture checked, as for training
        fmt, rows, problems = collect(source, kind, "auto", Identity.of(spec.dataset), converter.wrap(convert))
        converter.check_model(spec.model, problems)
        problems.raise_if_any()
        rows, images = uniform(rows)
        if not images and not preference:
            rows = [r["messages"] if isinstance(r, dict) else r for r in rows]
        if preference and fmt != "dpo":
            raise UserError(f"eval.dataset: {source.label} is {fmt} data; score preference pairs "
                            "(prompt/chosen/rejected), or give supervised rows")
        items = preference_items(rows, source.label) if preference else supervised_items(rows, source.label)
        out.append(Benchmark(HELD_OUT_PREFERENCE if preference else HELD_OUT, "preference" if preference else "heldout",
                             source.label, items))
        return out
    if spec.dataset.val_ratio <= 0:
        return out
    names = spec.stage_names()
    if spec.dataset.sft and "sft" in names:
        from ..data.sft import load_sft

        data = load_sft(spec)
        out.append(Benchmark(HELD_OUT, "heldout", f"{data.source} (val_ratio {spec.dataset.val_ratio})",
                             supervised_items(data.val, data.source)))
    if spec.dataset.preference and "dpo" in names:
        from ..data.preference import load_preference

        pref = load_preference(spec)
        if pref.format == "dpo":
            out.append(Benchmark(HELD_OUT_PREFERENCE, "preference", f"{pref.source} (val_ratio {spec.dataset.val_ratio})",
                                 preference_items(pref.val, pref.source)))
    return [b for b in out if b.items]


def load_all(spec: JobSpec) -> list[Benchmark]:
    """Held-out rows first, then eval.benchmarks in order, each cut to eval.limit; every file checked."""
    out = held_out(spec)
    errors: list[str] = []
    for entry in spec.eval.benchmarks:
        try:
            out.append(resolve(entry, spec))
        except UserError as exc:
            errors.extend(exc.lines)
    if errors:
        raise UserError(*errors)
    seen: set[str] = set()
    for bench in out:
        if bench.name in seen:
            raise UserError(f"eval.benchmarks: two benchmarks are both called {bench.name}; rename one of the files")
        seen.add(bench.name)
        if spec.eval.limit:
            bench.items = bench.items[: spec.eval.limit]
    return out
