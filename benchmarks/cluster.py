"""Questions/s and latency of the assistant as compose runs it, with one replica and with
two: `python -m benchmarks.cluster`.

Each round starts `scripts/local_cluster.py` (the compose services as plain processes on
loopback): migrations into a new PostgreSQL database `bench_cluster_<hex>` (dropped at the
end), the demo index, then N replicas of `python -m bot` in webhook mode with Redis (flow
state, flood control, update claims) and JSON logs at INFO, as in production. This process
serves the fake Telegram Bot API the replicas send to and plays C customers in a closed
loop (benchmarks.bot_webhook's ChatLoad: `/start <shop>`, then the eval set's questions,
each made unique so that no answer comes from a cache), delivering each update to the
replicas in turn, as a load balancer would.

Measured per round, after a warm-up: questions answered per second, latency from just
before the update is POSTed until the reply's sendMessage reaches the fake (p50/p90/p99),
the CPU cores the replicas used together, and the generator's own. On a 2-core machine the
replicas, PostgreSQL, Redis and the generator share the same two cores: the figures say
what one machine gives, not how a second machine would add. Printed, never asserted.

    python -m benchmarks.cluster [--replicas 1,2] [--chats 16] [--seconds 20] [--warmup 5]
        [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks.bot_webhook import (
    ChatLoad,
    ReplyWatchingFake,
    _cpu_seconds,
    _mib,
    _status_kib,
    load_questions,
)
from tests.support.local_cluster import Cluster, start_cluster

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
STARTUP_SECONDS = 600.0  # a cold first round builds the demo index


async def _on_postgres(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def _database() -> AsyncIterator[str]:
    name = f"bench_cluster_{secrets.token_hex(5)}"
    await _on_postgres(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        await _on_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def _cluster(
    replicas: int, state: Path, database_url: str, settings: dict[str, str]
) -> AsyncIterator[Cluster]:
    cluster = await start_cluster(
        state, settings, database_url, REDIS, replicas=replicas, startup_seconds=STARTUP_SECONDS
    )
    try:
        yield cluster
    finally:
        await asyncio.to_thread(cluster.stop)


async def _round(
    replicas: int, state: Path, chats: int, seconds: float, warmup: float
) -> dict[str, Any]:
    by_shop = load_questions()
    # A bot of its own each round: update claims in Redis are per bot and update id.
    token = f"{secrets.randbelow(10**9) + 10**6}:BENCH"
    async with ReplyWatchingFake(token=token) as fake, _database() as database_url:
        settings = {
            "BOT_TOKEN": fake.token,
            "BOT_API_URL": fake.base_url,
            "WEBHOOK_URL": "https://assistant.example.com/telegram/webhook",
            "BOT_SENDING_LIMITS": "false",
            "BOT_THROTTLE_MESSAGES": "1000000",
            "PSEUDONYM_KEY": "b" * 48,
            "LOG_FORMAT": "json",
            # The cores shared out: more OpenMP threads than cores in all starve each other.
            "INDEXER_THREADS": str(max(1, (os.cpu_count() or 1) // replicas)),
        }
        async with _cluster(replicas, state, database_url, settings) as cluster:
            urls = [replica.webhook for replica in cluster.replicas]
            pids = [replica.pid for replica in cluster.replicas]
            load = ChatLoad(fake, by_shop, chats, 10_000, set(), itertools.count(1), urls=urls)
            before = [_cpu_seconds(f"/proc/{pid}/stat") for pid in pids]
            began = time.monotonic()
            result = await load.run(warmup, seconds, pids[0])
            elapsed = time.monotonic() - began
            after = [_cpu_seconds(f"/proc/{pid}/stat") for pid in pids]
            resident = [_mib(_status_kib("VmRSS", pid)) for pid in pids]
    used = [
        None if b is None or a is None else round((a - b) / elapsed, 2)
        for b, a in zip(before, after, strict=True)
    ]
    return {
        "replicas": replicas,
        "chats": chats,
        "questions_per_second": result["questions_per_second"],
        "answered": result["answered"],
        "latency_ms": result["latency_ms"],
        "errors": result["errors"],
        "replica_cores": used,
        "replica_rss_mib": resident,
        "load_generator_cores": result["cpu_cores"].get("load_generator"),
    }


def render(rounds: list[dict[str, Any]]) -> str:
    lines = [
        "replicas  chats   q/s    p50 ms   p90 ms   p99 ms   cores (replicas)   RSS MiB   errors",
    ]
    for r in rounds:
        latency = r["latency_ms"]
        cores = "+".join(f"{c:.2f}" for c in r["replica_cores"] if c is not None)
        rss = "+".join(f"{m:.0f}" for m in r["replica_rss_mib"] if m is not None)
        lines.append(
            f"{r['replicas']:>8}  {r['chats']:>5}  {r['questions_per_second']:>5}  "
            f"{latency['p50']!s:>7}  {latency['p90']!s:>7}  {latency['p99']!s:>7}   "
            f"{cores:<17}  {rss:<8}  {r['errors'] or '-'}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster")
    parser.add_argument("--replicas", default="1,2", help="replica counts, one round each")
    parser.add_argument("--chats", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    counts = [int(part) for part in args.replicas.split(",") if part.strip()]
    root = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    state = root / "state"
    # The demo index of this checkout, when built, saves the first round embedding it.
    cache = PROJECT_ROOT / "var" / "index" / "embedding-cache.sqlite3"
    if cache.exists():
        (state / "index").mkdir(parents=True)
        shutil.copy2(cache, state / "index")
    try:
        rounds = [
            asyncio.run(_round(n, state, args.chats, args.seconds, args.warmup)) for n in counts
        ]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(rounds, indent=2) if args.json else render(rounds))


if __name__ == "__main__":
    main()
