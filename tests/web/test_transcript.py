"""The transcript in one process stays bounded, and a message that could not be taken is
taken when the page sends it again; in Redis, events are numbered in the order kept."""

from __future__ import annotations

import asyncio
import uuid

from bot.web.transcript import (
    KEEP_EVENTS,
    NONCES_PER_CHAT,
    MemoryTranscript,
    RedisTranscript,
)


async def test_memory_keeps_the_last_events_and_nonces_of_a_bounded_number_of_chats() -> None:
    transcript = MemoryTranscript(max_conversations=3)
    for chat_id in range(5):
        await transcript.append(chat_id, {"type": "message", "from": "bot", "html": "hi"})
    # The two chats touched longest ago are gone; the newest three stay.
    assert [len(await transcript.since(chat_id, 0)) for chat_id in range(5)] == [0, 0, 1, 1, 1]
    for number in range(KEEP_EVENTS + 10):
        await transcript.append(4, {"type": "message", "from": "bot", "html": str(number)})
    kept = await transcript.since(4, 0)
    assert len(kept) == KEEP_EVENTS and kept[-1]["seq"] == KEEP_EVENTS + 11
    for number in range(NONCES_PER_CHAT + 1):
        assert await transcript.first_time(4, f"n{number}")
    assert not await transcript.first_time(4, f"n{NONCES_PER_CHAT}")
    # The oldest nonce fell out (a page resends only what it sent since it reconnected).
    assert await transcript.first_time(4, "n0")


async def test_a_released_nonce_is_taken_again() -> None:
    transcript = MemoryTranscript()
    assert await transcript.first_time(1, "a")
    await transcript.release_nonce(1, "a")
    assert await transcript.first_time(1, "a")
    assert not await transcript.first_time(1, "a")


async def test_redis_numbers_events_in_the_order_it_keeps_them(redis_url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    transcript = RedisTranscript(client, retention_seconds=60)
    await transcript.start()
    chat_id = 2**52 + uuid.uuid4().int % 2**50
    try:
        with transcript.listeners.listen(chat_id) as queue:
            await asyncio.gather(
                *(
                    transcript.append(chat_id, {"type": "message", "from": "bot", "html": str(n)})
                    for n in range(50)
                )
            )
            heard = [await asyncio.wait_for(queue.get(), 10) for _ in range(50)]
        kept = await transcript.since(chat_id, 0)
        assert [event["seq"] for event in kept] == list(range(1, 51))
        assert [event["seq"] for event in heard] == list(range(1, 51))
        assert await transcript.first_time(chat_id, "x")
        await transcript.release_nonce(chat_id, "x")
        assert await transcript.first_time(chat_id, "x")
        await transcript.forget(chat_id)
        assert await transcript.since(chat_id, 0) == []
    finally:
        await client.delete(
            *[key async for key in client.scan_iter(f"privacy-assistant:web:{chat_id}:*")]
        )
        await transcript.close()
        await client.aclose()
