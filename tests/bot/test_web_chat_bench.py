"""The web chat load bench runs end to end: 3 sessions for 2 seconds on one replica
(`python -m bot --web`), then the Telegram comparison with 2 chats. Its figures are not
judged."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.web_chat import Options, render, run_bench


async def test_the_bench_answers_web_sessions_and_reports_its_figures(
    served_index: Path,
) -> None:
    options = Options(
        sessions=3,
        seconds=2.0,
        warmup=0.5,
        compare_chats=2,
        prime=1,
        index_dir=served_index,
        timeout=180.0,
    )
    result = await run_bench(options)

    [round_] = result["rounds"]
    assert round_["replicas"] == 1
    assert round_["open"]["opened"] == 3 and round_["open"]["failed"] == {}
    active = round_["active"]
    assert active["sessions"] == 3
    assert active["answered"] > 0 and active["errors"] == {}
    assert {"p50", "p90", "p99", "max"} <= set(active["latency_ms"])
    assert {"replicas", "replicas_event_loop", "load_generator"} <= set(active["cpu_cores"])
    memory = round_["memory"]
    assert set(memory["rss_mib"]) == {"base", "idle", "active_peak", "active_end", "closed"}
    assert memory["idle_per_session_kib"] is not None
    assert memory["active_per_session_kib"] is not None
    telegram = round_["telegram"]
    assert telegram["chats"] == 2
    assert telegram["answered"] > 0 and telegram["errors"] == {}
    assert "ratio" in telegram
    assert json.loads(json.dumps(result)) == result
    table = render(result)
    assert "answers/s" in table and "per idle session" in table
