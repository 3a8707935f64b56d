"""Read JSONL / JSON / CSV files into numbered records, collecting every problem as `file:line: ...`.

Reading never stops at the first bad line: an operator fixing a 10,000-row file wants every
problem in one pass, so problems are collected (capped) and raised together by the caller.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError

MAX_PROBLEMS = 20
SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv")
# CSV cells that may hold a JSON list (a conversation) rather than plain text.
LIST_COLUMNS = ("messages", "conversations", "history", "prompt", "chosen", "rejected", "completion", "images")
STRICT_LIST_COLUMNS = ("messages", "conversations", "history")


@dataclass
class Record:
    """One row as read: where it came from (for messages) and its fields."""

    file: str
    line: int
    data: dict[str, Any]
    from_csv: bool = False


class Problems:
    """Collects `file:line: message` problems; reports them in file and line order, capped, all at once.

    Reading finds bad JSON before the rows are checked, so problems arrive out of order; they are
    sorted when shown, and the cap keeps the first lines of the file rather than the first found.
    """

    def __init__(self, source: str, cap: int = MAX_PROBLEMS) -> None:
        self.source = source
        self.cap = cap
        self._entries: list[tuple[int, int, int, str]] = []
        self._files: dict[str, int] = {}

    @property
    def count(self) -> int:
        return len(self._entries)

    @property
    def lines(self) -> list[str]:
        return [text for *_, text in sorted(self._entries)[: self.cap]]

    def add(self, line: int | None, message: str, file: str | None = None) -> None:
        where = file or self.source
        order = self._files.setdefault(where, len(self._files))
        text = f"{where}:{line}: {message}" if line else f"{where}: {message}"
        self._entries.append((order, line or 0, len(self._entries), text))

    def at(self, record: Record, message: str) -> None:
        self.add(record.line, message, record.file)

    def all_lines(self) -> list[str]:
        shown = self.lines
        hidden = self.count - len(shown)
        return shown + ([f"... and {hidden} more problems; fix these and check again"] if hidden > 0 else [])

    def raise_if_any(self) -> None:
        if self.count:
            raise UserError(*self.all_lines())


def read_records(path: Path, problems: Problems) -> list[Record]:
    """Records of a .jsonl, .json (a list of objects, or one object a line) or .csv file.

    A missing or unreadable file is raised at once (nothing else can be said about it); bad lines
    go to `problems` so the caller can add row-level problems and report them all together.
    """
    if not path.exists():
        raise UserError(f"{path}: no such dataset file; check dataset.sft / dataset.preference (or use a built-in name)")
    if path.is_dir():
        raise UserError(f"{path}: is a folder; give a .jsonl, .json or .csv file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError(f"{path}: unknown dataset file type {suffix or '(none)'}; use .jsonl, .json or .csv")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    file = str(path)
    if suffix == ".csv":
        return _csv(text, file, problems)
    if suffix == ".json" and text.lstrip().startswith("["):
        return _json_array(text, file, problems)
    return _jsonl(text, file, problems)


def _jsonl(text: str, file: str, problems: Problems) -> list[Record]:
    out = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.add(i, f"not valid JSON: {exc.msg} (column {exc.colno})", file)
            continue
        if not isinstance(row, dict):
            problems.add(i, f"expected a JSON object, got {_kind(row)}", file)
            continue
        out.append(Record(file, i, row))
    return out


def _json_array(text: str, file: str, problems: Problems) -> list[Record]:
    """Items of a JSON array, each numbered by the line its object starts on."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        problems.add(exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})", file)
        return []
    decoder = json.JSONDecoder()
    out = []
    pos = text.index("[") + 1
    while True:
        pos = _skip(text, pos)
        if text[pos] == "]":
            break
        line = text.count("\n", 0, pos) + 1
        item, pos = decoder.raw_decode(text, pos)
        if isinstance(item, dict):
            out.append(Record(file, line, item))
        else:
            problems.add(line, f"expected an object in the list, got {_kind(item)}", file)
        pos = _skip(text, pos)
        if text[pos] == ",":
            pos += 1
    return out


def _skip(text: str, pos: int) -> int:
    while text[pos] in " \t\r\n":
        pos += 1
    return pos


def _csv(text: str, file: str, problems: Problems) -> list[Record]:
    """Rows of a CSV file with a header; each numbered by the physical line it starts on."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        problems.add(1, f"not valid CSV: {exc}", file)
        return []
    header = [h.strip() for h in header]
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated or not all(header):
        problems.add(1, "the header row needs one unique, non-empty name per column"
                     + (f" (repeated: {', '.join(duplicated)})" if duplicated else ""), file)
        return []
    out = []
    end = reader.line_num
    while True:
        start = end + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.add(start, f"not valid CSV: {exc}", file)
            break
        end = reader.line_num
        if not values or not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            problems.add(start, f"has {len(values)} values but the header has {len(header)} columns", file)
            continue
        row = dict(zip(header, values, strict=True))
        if _decode_list_cells(row, start, file, problems):
            out.append(Record(file, start, row, from_csv=True))
    return out


def _decode_list_cells(row: dict[str, Any], line: int, file: str, problems: Problems) -> bool:
    """Turn CSV cells that hold JSON lists (conversations) into lists; False after a problem."""
    for column in LIST_COLUMNS:
        value = row.get(column)
        if not isinstance(value, str) or not value.strip().startswith("["):
            continue
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError as exc:
            if column in STRICT_LIST_COLUMNS:
                problems.add(line, f"column {column}: not valid JSON ({exc.msg}); a conversation in a CSV cell "
                             "is JSON text such as [{\"role\": \"user\", \"content\": \"hi\"}, ...]", file)
                return False
            continue
        if isinstance(decoded, list):
            row[column] = decoded
    return True


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), "null" if value is None else type(value).__name__
    )
