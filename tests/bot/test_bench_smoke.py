"""The webhook load bench runs end to end: 2 chats for 2 seconds. Its figures are not judged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.bot_webhook import render, run_bench
from indexer.errors import IndexNotFoundError
from indexer.publish import CURRENT, current_version_dir
from indexer.settings import PROJECT_ROOT

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


@pytest.fixture
def served_index(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """A copy of the repository's published index (quick), else the session's corpus index."""
    repository_index = PROJECT_ROOT / "var" / "index"
    try:
        version = current_version_dir(repository_index)
    except IndexNotFoundError:
        corpus_index: Path = request.getfixturevalue("corpus_index")
        return corpus_index
    copy = tmp_path / "index"
    shutil.copytree(version, copy / version.relative_to(repository_index))
    shutil.copy2(repository_index / CURRENT, copy / CURRENT)
    return copy


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
