"""Telegram's sending limits hold for the bot as a whole: replicas take their sends from
buckets shared in Redis. The rooms are asked for waits, never timed."""

from __future__ import annotations

import random

import pytest

from bot.outgoing import MemorySendingRoom, Rates, RedisSendingRoom, SendingRoom

RATES = Rates(per_chat=(1.0, 3.0), overall=(5.0, 5.0), per_group=(20 / 60, 3.0))


@pytest.fixture(params=["memory", "redis"])
async def replicas(request: pytest.FixtureRequest) -> list[SendingRoom]:
    if request.param == "memory":
        shared = MemorySendingRoom(RATES)
        return [shared, shared]
    from redis.asyncio import Redis

    url = request.getfixturevalue("redis_url")
    bot_id = random.randrange(10**9)  # parallel test workers share the Redis database
    return [RedisSendingRoom(Redis.from_url(url), bot_id, RATES) for _ in range(2)]


async def test_the_overall_limit_counts_the_sends_of_every_replica(
    replicas: list[SendingRoom],
) -> None:
    first, second = replicas
    # Five chats, one message each, alternating replicas: the overall burst of five.
    waits = [await (first if n % 2 else second).wait_time(100 + n) for n in range(5)]
    assert waits == [0.0] * 5
    # The sixth, on either replica, must wait about a fifth of a second.
    assert 0.1 < await first.wait_time(200) <= 0.25
    assert 0.1 < await second.wait_time(201) <= 0.25


async def test_a_chat_gets_its_burst_then_one_a_second(replicas: list[SendingRoom]) -> None:
    first, second = replicas
    chat = random.randrange(10**6)
    waits = [await (first if n % 2 else second).wait_time(chat) for n in range(3)]
    assert waits == [0.0, 0.0, 0.0]
    assert 0.5 < await second.wait_time(chat) <= 1.0
    # A chat that must wait does not use up the overall bucket: another chat goes at once.
    assert await first.wait_time(chat + 1) == 0.0


async def test_a_group_gets_twenty_a_minute(replicas: list[SendingRoom]) -> None:
    first, second = replicas
    group = -random.randrange(10**12)
    assert [await first.wait_time(group) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert 2.0 < await second.wait_time(group) <= 3.0
