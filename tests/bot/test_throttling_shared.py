"""Flood control shared by replicas: the limit holds whichever process counts."""

from __future__ import annotations

import random

import pytest

from bot.middlewares.throttling import MemoryRateWindows, RateWindows, RedisRateWindows


@pytest.fixture(params=["memory", "redis"])
async def windows_pair(request: pytest.FixtureRequest) -> list[RateWindows]:
    if request.param == "memory":
        shared = MemoryRateWindows(3, 0.5)
        return [shared, shared]
    from redis.asyncio import Redis

    url = request.getfixturevalue("redis_url")
    # Two replicas: two clients, one Redis.
    return [RedisRateWindows(Redis.from_url(url), 3, 0.5) for _ in range(2)]


async def test_the_limit_counts_messages_on_every_replica(windows_pair: list[RateWindows]) -> None:
    first, second = windows_pair
    user = random.randrange(10**9)
    allowed = [await (first if i % 2 else second).allow(user) for i in range(5)]
    assert allowed == [True, True, True, False, False]
    assert await first.first_warning(user)
    assert not await second.first_warning(user)  # one notice per window, not per replica
    assert await first.allow(user + 1)  # another customer is not held back


async def test_the_window_slides(windows_pair: list[RateWindows]) -> None:
    import asyncio

    first, second = windows_pair
    user = random.randrange(10**9)
    for _ in range(3):
        assert await first.allow(user)
    assert not await second.allow(user)
    await asyncio.sleep(0.6)
    assert await second.allow(user)
