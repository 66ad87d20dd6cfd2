"""One update of a chat at a time, across replicas sharing Redis (bot.shared_state): a
second replica waits for the chat the first is working on, not for other chats, and takes
the chat over once the first one's lease has run out (it died mid-update)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from aiogram.fsm.storage.base import StorageKey

from bot.settings import BotSettings
from bot.shared_state import SharedState, shared_state

pytestmark = pytest.mark.redis


def chat(user: int) -> StorageKey:
    return StorageKey(bot_id=42, chat_id=user, user_id=user)


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[list[SharedState]]:
    settings = BotSettings(update_lease_seconds=1.0)
    states = [shared_state(settings, redis_url) for _ in range(2)]
    yield states
    for state in states:
        await state.close()


async def test_a_chat_is_worked_on_by_one_replica_at_a_time(replicas: list[SharedState]) -> None:
    first, second = (replica.isolation for replica in replicas)
    user = random.randrange(10**9)
    order: list[str] = []
    holding = asyncio.Event()
    done = asyncio.Event()

    async def on_first() -> None:
        async with first.lock(chat(user)):
            holding.set()
            await done.wait()
            order.append("first done")

    async def on_second() -> None:
        await holding.wait()
        async with second.lock(chat(user)):
            order.append("second")

    working = asyncio.create_task(on_first())
    waiting = asyncio.create_task(on_second())
    await holding.wait()
    # Another chat is not held back by the one being worked on.
    async with second.lock(chat(user + 1)):
        order.append("other chat")
    done.set()
    await asyncio.gather(working, waiting)
    assert order == ["other chat", "first done", "second"]


async def test_a_chat_held_past_its_lease_is_taken_over(replicas: list[SharedState]) -> None:
    first, second = (replica.isolation for replica in replicas)
    user = random.randrange(10**9)
    # The first replica "hangs" on the chat past its lease (as one killed mid-update): the
    # second takes it over (it would wait forever if the lock never expired), and the
    # first one's late release is no error.
    async with first.lock(chat(user)), second.lock(chat(user)):
        taken_over = True
    assert taken_over
