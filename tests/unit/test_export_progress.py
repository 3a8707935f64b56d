"""While llm-compressor works, its bars and log lines become events, and a heartbeat keeps the job audible."""

from __future__ import annotations

import time

from engine.export import progress


def test_library_bars_become_layer_progress_and_are_not_drawn(capsys):
    from tqdm import tqdm

    events: list[tuple[str, dict]] = []
    with progress.watched(lambda kind, **f: events.append((kind, f)), heartbeat_s=60):
        for index in (1, 2):
            for _ in tqdm(range(3), desc=f"({index}/2): Calibrating"):
                pass
            for _ in tqdm(range(3), desc=f"({index}/2): Propagating"):
                pass
    steps = [(f["step"], f["total"]) for kind, f in events if kind == "progress"]
    assert steps == [(0, 2), (1, 2), (2, 2)]
    assert "Calibrating" not in capsys.readouterr().err
    for _ in tqdm(range(2), desc="after"):  # the bars are back once the block ends
        pass
    assert "after" in capsys.readouterr().err


def test_warnings_become_one_event_each_and_expected_ones_are_dropped(capsys):
    from loguru import logger

    events: list[tuple[str, dict]] = []
    with progress.watched(lambda kind, **f: events.append((kind, f)), heartbeat_s=60):
        logger.warning("odd layer skipped")
        logger.warning("odd layer skipped")
        logger.warning("No accelerator available! Compressing model on CPU instead")
        logger.info("chatter")
    logs = [f["message"] for kind, f in events if kind == "log"]
    assert logs == ["llm-compressor: odd layer skipped"]
    out = capsys.readouterr()
    assert "odd layer" not in out.out + out.err


def test_a_heartbeat_names_what_is_running_when_the_library_is_silent():
    events: list[tuple[str, dict]] = []

    def beats() -> list[str]:
        return [f["message"] for kind, f in list(events) if kind == "log" and "still running" in f["message"]]

    with progress.watched(lambda kind, **f: events.append((kind, f)), heartbeat_s=0.05) as watch:
        watch.now("grid search for layer 7")
        deadline = time.monotonic() + 60  # a generous bound, not a timing check (bench/refusal_latency.py times it)
        while not any(b.endswith("grid search for layer 7") for b in beats()) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert beats() and beats()[-1].endswith("grid search for layer 7")
    assert "export still running" in beats()[-1]
