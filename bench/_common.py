"""The one protocol every benchmark speaks: print `RESULT {json}` as its last line.

bench/run_all.py runs each script several times, reads those lines and writes RESULTS.md with
min/median/max per figure, so every script stays runnable on its own too.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def report(figures: dict[str, Any], notes: list[str] | None = None) -> None:
    """Print the human lines, then the machine line run_all.py collects."""
    for key, value in figures.items():
        print(f"{key}: {value}")
    print("RESULT " + json.dumps({"figures": figures, "notes": notes or []}, ensure_ascii=False))
    sys.stdout.flush()
