"""benchmarks.faults runs end to end with tiny counts: a row per fault, in the table and in
JSON, and nothing lost or done twice under any of them. Its times are printed, never judged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.faults import FAULTS, TITLES, Options, render, run_bench
from benchmarks.privacy_api import BenchError
from indexer.build import CACHE_FILE
from tests.conftest import optional_backend_missing

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ROW_KEYS = {
    "fault",
    "title",
    "injected",
    "made",
    "acknowledged",
    "lost",
    "duplicated",
    "recover_seconds",
    "recover_simulated_seconds",
    "notes",
    "not_run",
}


# The API rows and the chat rows run apart, so that two test workers can take them at once:
# most of each is waiting (the faults last seconds, the cluster starts).
ROWS = {
    "api": ("kill", "postgres", "slow-receiver", "receiver-down"),
    "chats": ("redis", "telegram"),
}


@pytest.mark.parametrize("rows", list(ROWS))
async def test_no_fault_loses_or_duplicates_anything(
    rows: str, redis_url: str, corpus_index: Path
) -> None:
    faults = ROWS[rows]
    options = Options(
        faults=faults,
        requests=12,
        rate=20,
        chats=2,
        fault_seconds=2,
        replicas=1,
        redis_url=redis_url,
        # The session's demo index holds every embedding the cluster's index step needs.
        embedding_cache=corpus_index / CACHE_FILE,
    )
    try:
        result = await run_bench(options)
    except BenchError as exc:
        optional_backend_missing(f"PostgreSQL ({exc})")

    found = result["rows"]
    assert [row["fault"] for row in found] == [f for f in FAULTS if f in faults]
    for row in found:
        assert set(row) == ROW_KEYS
        assert row["not_run"] is None, row
        assert row["made"] > 0 and row["acknowledged"] == row["made"], row
        assert (row["lost"], row["duplicated"]) == (0, 0), row
        assert row["recover_seconds"] is not None, row  # within the bench's patience
    if "receiver-down" in faults:
        # The hour the receiver was down was skipped on the worker's clock, not waited for.
        down = next(row for row in found if row["fault"] == "receiver-down")
        assert down["notes"]["receiver_refused"] > 0 and down["recover_simulated_seconds"] > 0

    table = render(result).splitlines()
    header = next(line for line in table if line.startswith("fault "))
    assert header.split() == ["fault", "made", "acked", "lost", "dup", "recover"]
    for row in found:
        title = TITLES[row["fault"]]
        [line] = [line for line in table if line.startswith(title + " ")]
        assert line[len(title) :].split()[:4] == [
            str(row["made"]),
            str(row["acknowledged"]),
            "0",
            "0",
        ]
    assert json.loads(json.dumps(result)) == result
