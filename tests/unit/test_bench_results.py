"""bench/run_all.py rewrites RESULTS.md: a script's section is replaced, a record written by hand is kept."""

from __future__ import annotations

from pathlib import Path

from bench.run_all import earlier_sections

RESULTS = """# Benchmark results

## eval.py — eval throughput

| figure | min |
|---|---|

## Demo runs (by hand, 2026-12-06)

three runs, all named

## GPU check (bench/gpu_check.sh on a lent GPU)

Not run yet.
"""


def test_hand_written_sections_are_found_by_title_and_the_gpu_section_is_left_to_gpu_md(tmp_path: Path):
    path = tmp_path / "RESULTS.md"
    path.write_text(RESULTS)
    found = earlier_sections(path)
    assert set(found) == {"eval.py", "## Demo runs (by hand, 2026-12-06)"}
    assert found["## Demo runs (by hand, 2026-12-06)"][2] == "three runs, all named"
    assert not any("Not run yet." in line for lines in found.values() for line in lines)
