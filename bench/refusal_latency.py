"""How fast hostile or junk job files are refused, and how soon a silent export is heard from.

These were timed asserts inside the test suite (tests/unit/test_render.py, tests/reliability/test_fuzz_jobs.py,
tests/unit/test_export_progress.py); a shared, busy CI machine made them flaky without making them wrong, so the
tests now check only the behaviour and the timings live here, against the same targets:
  - an alias bomb is refused before it expands (target < 1 s)
  - a 5000-deep nested document, and every random document, is judged in < 2 s
  - a heartbeat set to 0.05 s speaks within a few beats
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import report  # noqa: E402
from engine.errors import UserError  # noqa: E402
from engine.export import progress  # noqa: E402
from engine.render import parse_yaml, spec_from_mapping  # noqa: E402
from tests.reliability.test_fuzz_jobs import DEEP  # noqa: E402
from tests.unit.test_render import ALIAS_BOMB  # noqa: E402


def judged_in(text: str) -> float:
    """Seconds to load `text` as the CLI does, ending in a valid job or a UserError."""
    started = time.perf_counter()
    try:
        data, lines = parse_yaml(text, "bench.yaml")
        spec_from_mapping(data, "bench.yaml", lines)
    except UserError:
        pass
    return time.perf_counter() - started


def random_documents(n: int, seed: int = 0) -> list[str]:
    """Junk of the kind the fuzzer tries: random text and YAML-ish fragments up to 2 KB."""
    rng = random.Random(seed)
    alphabet = "ab:- \n[]{}&*!#'\"0123456789.,|>%@`\t名"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 2048))) for _ in range(n)]


# Large but under the loader's size limit: the worst cases an operator's file can hit.
FLAT_LIST = "a: [" + ", ".join(str(i) for i in range(20000)) + "]\n"  # ~129 KB
LONG_LINE = "x: " + "y" * 200_000 + "\n"


def first_heartbeat(heartbeat_s: float = 0.05, timeout: float = 30.0) -> float:
    events: list[str] = []
    started = time.perf_counter()
    with progress.watched(lambda kind, **f: events.append(f.get("message", "")), heartbeat_s=heartbeat_s) as watch:
        watch.now("bench")
        while not any("still running" in m for m in events) and time.perf_counter() - started < timeout:
            time.sleep(0.002)
    return time.perf_counter() - started


def main(repeats: int = 5) -> None:
    bomb = [judged_in(ALIAS_BOMB) for _ in range(repeats)]
    deep = [judged_in(DEEP) for _ in range(repeats)]
    junk = [judged_in(doc) for doc in random_documents(200)]
    flat, long_line = judged_in(FLAT_LIST), judged_in(LONG_LINE)
    beats = [first_heartbeat() for _ in range(repeats)]
    report(
        {
            "alias_bomb_refused_s_max": round(max(bomb), 4),
            "deep_nesting_judged_s_max": round(max(deep), 4),
            "random_document_judged_s_max": round(max(junk), 4),
            "random_document_judged_s_median": round(statistics.median(junk), 5),
            "flat_list_20000_items_judged_s": round(flat, 3),
            "long_line_200kb_judged_s": round(long_line, 3),
            "first_heartbeat_s_median_at_0.05": round(statistics.median(beats), 3),
            "alias_bomb_target_s": 1.0,
            "judge_target_s": 2.0,
        },
        notes=["refusal_latency: targets are the limits the tests used to assert (1 s alias bomb, 2 s per judgement)"],
    )


if __name__ == "__main__":
    main()
