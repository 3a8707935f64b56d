"""Readers for EvalScope's own file formats, so a user can bring a benchmark of their own.

general_mcq: a CSV with the header id,question,A,B,C,D,answer (two or more choice columns A, B, …).
general_qa: a JSONL file with one {"query": ..., "response": ...} object a line ("system" optional).
Every problem is reported as file:line with the fix, all at once, before any model loads.
"""

from __future__ import annotations

import csv
import string
from pathlib import Path

from ..data.rows import Problems, read_records
from ..errors import UserError
from .items import Item

MCQ_HEADER = "id,question,A,B,C,D,answer"
LETTERS = string.ascii_uppercase


def mcq_prompt(question: str, choices: dict[str, str]) -> str:
    """The one way a multiple-choice question is asked (the eval and anyone training on the file use it)."""
    lines = [question.strip(), *(f"{k}. {v.strip()}" for k, v in choices.items())]
    return "\n".join(lines) + "\nAnswer with the letter of the correct choice only."


def missing(path: Path, what: str) -> UserError:
    return UserError(f"{path}: no such benchmark file; check eval.benchmarks (a shipped name, or the path to {what})")


def _header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        try:
            return [h.strip() for h in next(csv.reader(fh))]
        except (StopIteration, csv.Error):
            return []


def mcq_letters(header: list[str]) -> list[str] | None:
    """The choice columns (A, B, … in order) when the header is a general_mcq header, else None."""
    letters = [h for h in header if len(h) == 1 and h in LETTERS]
    if not {"id", "question", "answer"} <= set(header) or len(letters) < 2:
        return None
    if letters != list(LETTERS[: len(letters)]):
        return None
    return letters


def read_mcq(path: Path, lang: str = "en") -> list[Item]:
    """Every row of a general_mcq CSV as an Item; UserError listing every bad line otherwise."""
    if not path.is_file():
        raise missing(path, f"a general_mcq .csv file ({MCQ_HEADER})")
    header = _header(path)
    letters = mcq_letters(header)
    if letters is None:
        raise UserError(f"{path}:1: the header is {','.join(header) or '(empty)'}; a general_mcq CSV starts with "
                        f"the header {MCQ_HEADER} (two or more choice columns A, B, … then answer)")
    problems = Problems(str(path))
    records = read_records(path, problems)
    items: list[Item] = []
    for record in records:
        row = {k: (v.strip() if isinstance(v, str) else v) for k, v in record.data.items()}
        question = row.get("question") or ""
        choices = {k: row[k] for k in letters if row.get(k)}
        answer = str(row.get("answer") or "").upper()
        if not question:
            problems.at(record, "the question is empty; write it in the question column or delete the row")
            continue
        if len(choices) < 2:
            problems.at(record, f"fewer than two choices filled in; fill columns {', '.join(letters)}")
            continue
        if answer not in choices:
            problems.at(record, f"answer {row.get('answer')!r} is not among the choices ({', '.join(choices)}); "
                                "put the letter of the right choice in the answer column")
            continue
        items.append(Item(
            id=str(row.get("id") or record.line),
            prompt=[{"role": "user", "content": mcq_prompt(question, choices)}],
            reference=answer, choices=choices, lang=lang, where=f"{record.file}:{record.line}",
        ))
    if not items and not problems.count:
        problems.add(None, "the file has no questions; add rows under the header")
    problems.raise_if_any()
    return items


def read_qa(path: Path, lang: str = "en") -> list[Item]:
    """Every line of a general_qa JSONL file as an Item; UserError listing every bad line otherwise."""
    if not path.is_file():
        raise missing(path, 'a general_qa .jsonl file ({"query": ..., "response": ...} a line)')
    problems = Problems(str(path))
    items: list[Item] = []
    for record in read_records(path, problems):
        data = record.data
        if "query" not in data or "response" not in data:
            problems.at(record, f"needs query and response (general_qa: {{\"query\": ..., \"response\": ...}}); "
                                f"this line has {', '.join(sorted(data)) or 'no keys'}")
            continue
        query, response, system = data["query"], data["response"], data.get("system")
        if not isinstance(query, str) or not query.strip():
            problems.at(record, "the query is empty; write the question in query or delete the line")
            continue
        if not isinstance(response, str) or not response.strip():
            problems.at(record, "the response is empty; write the reference answer in response or delete the line")
            continue
        if system is not None and not isinstance(system, str):
            problems.at(record, "system must be text")
            continue
        prompt = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": query}]
        items.append(Item(id=str(data.get("id", record.line)), prompt=prompt, reference=response.strip(),
                          lang=str(data.get("lang", lang)), where=f"{record.file}:{record.line}"))
    if not items and not problems.count:
        problems.add(None, "the file has no questions; add one JSON object a line")
    problems.raise_if_any()
    return items
