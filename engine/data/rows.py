"""Read JSONL / JSON / CSV files into (line number, row) pairs, collecting every problem as `file:line: ...`."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ..errors import UserError

MAX_PROBLEMS = 20
Row = tuple[int, dict[str, Any]]


class Problems:
    """Collects `file:line: message` lines; raises them all at once (capped) when asked."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = []
        self.count = 0

    def add(self, line: int | None, message: str) -> None:
        self.count += 1
        if len(self.lines) < MAX_PROBLEMS:
            where = f"{self.source}:{line}" if line else self.source
            self.lines.append(f"{where}: {message}")

    def raise_if_any(self) -> None:
        if self.count:
            extra = [f"... and {self.count - len(self.lines)} more problems"] if self.count > len(self.lines) else []
            raise UserError(*self.lines, *extra)


def read_rows(path: Path, problems: Problems | None = None) -> list[Row]:
    """Rows of a .jsonl, .json (a list of objects) or .csv file.

    Bad lines go to `problems` when given (so the caller can add row-level problems and report
    them all together), else they are raised at once as a UserError.
    """
    if not path.exists():
        raise UserError(f"{path}: no such dataset file; check dataset.sft / dataset.preference")
    if path.is_dir():
        raise UserError(f"{path}: is a folder; give a .jsonl, .json or .csv file")
    own = problems is None
    problems = problems or Problems(str(path))
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    rows: list[Row] = []
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        for i, row in enumerate(reader, start=2):
            if None in row:
                problems.add(i, "more values than header columns")
                continue
            rows.append((i, dict(row)))
    elif suffix == ".json" and text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        for i, row in enumerate(data):
            if isinstance(row, dict):
                rows.append((i + 1, row))
            else:
                problems.add(None, f"item {i + 1}: expected an object, got {type(row).__name__}")
    elif suffix in (".jsonl", ".json", ".ndjson"):
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.add(i, f"not valid JSON: {exc.msg} (column {exc.colno})")
                continue
            if not isinstance(row, dict):
                problems.add(i, f"expected a JSON object, got {type(row).__name__}")
                continue
            rows.append((i, row))
    else:
        raise UserError(f"{path}: unknown dataset file type {suffix or '(none)'}; use .jsonl, .json or .csv")
    if own:
        problems.raise_if_any()
    if not rows and not problems.count:
        raise UserError(f"{path}: the dataset has no rows")
    return rows
