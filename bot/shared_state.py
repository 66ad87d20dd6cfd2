"""What replicas must share, and where it lives: in memory for one process, in Redis
when REDIS_URL is set (several replicas behind a load balancer).

- the conversation state of a flow (aiogram FSM storage): a customer's next message may
  reach another replica mid-flow;
- the lock that has one update of a chat handled at a time (aiogram event isolation): a
  button tapped twice, or a message sent twice, reaches the flow one copy after the other,
  each seeing what the one before did;
- flood-control windows (bot.middlewares.throttling);
- claims on updates (bot.update_claims): a re-delivered update is answered once;
- the buckets that pace sends within Telegram's limits (bot.outgoing), which hold for the
  bot as a whole, however many replicas send.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiogram.fsm.storage.base import (
    BaseEventIsolation,
    BaseStorage,
    DefaultKeyBuilder,
    StorageKey,
)
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation

from bot.middlewares.throttling import MemoryRateWindows, RateWindows, RedisRateWindows
from bot.outgoing import MemorySendingRoom, RedisSendingRoom, SendingRoom
from bot.settings import BotSettings
from bot.update_claims import MemoryUpdateClaims, RedisUpdateClaims, UpdateClaims

if TYPE_CHECKING:
    from aiogram.fsm.storage.redis import RedisStorage
    from redis.asyncio import Redis

# A flow left half-way is forgotten after a week, like a conversation on a shop's desk.
FSM_TTL_SECONDS = 7 * 24 * 3600


@dataclass
class SharedState:
    storage: BaseStorage
    windows: RateWindows
    redis: Redis | None = None
    redis_url: str | None = None
    lease_seconds: float = 30.0
    isolation: BaseEventIsolation = field(default_factory=SimpleEventIsolation)
    _memory_claims: MemoryUpdateClaims | None = None

    def claims(self, bot_id: int) -> UpdateClaims:
        if self.redis is not None:
            return RedisUpdateClaims(self.redis, bot_id, self.lease_seconds)
        if self._memory_claims is None:
            self._memory_claims = MemoryUpdateClaims(self.lease_seconds)
        return self._memory_claims

    def sending_room(self, bot_id: int) -> SendingRoom:
        if self.redis is not None:
            return RedisSendingRoom(self.redis, bot_id)
        return MemorySendingRoom()

    async def close(self) -> None:
        await self.storage.close()
        if self.redis is not None:
            await self.redis.aclose()


def shared_state(settings: BotSettings, redis_url: str | None) -> SharedState:
    if not redis_url:
        return SharedState(
            MemoryStorage(),
            MemoryRateWindows(settings.throttle_messages, settings.throttle_seconds),
            lease_seconds=settings.update_lease_seconds,
        )
    from aiogram.fsm.storage.redis import RedisStorage
    from redis.asyncio import BlockingConnectionPool, Redis

    def client() -> Redis:
        # A burst (hundreds of chats at once) waits for a free connection instead of
        # failing with "Too many connections", as redis-py's default pool would.
        pool = BlockingConnectionPool.from_url(
            redis_url,
            max_connections=settings.redis_max_connections,
            timeout=settings.redis_pool_timeout_seconds,
        )
        return Redis(connection_pool=pool)

    redis = client()
    storage = RedisStorage(
        client(),
        # with_destiny: the written-language evidence (bot.i18n) is kept beside a flow's data.
        key_builder=DefaultKeyBuilder(
            prefix="privacy-assistant:fsm", with_bot_id=True, with_destiny=True
        ),
        state_ttl=FSM_TTL_SECONDS,
        data_ttl=FSM_TTL_SECONDS,
    )
    windows = RedisRateWindows(redis, settings.throttle_messages, settings.throttle_seconds)
    return SharedState(
        storage,
        windows,
        redis,
        redis_url,
        settings.update_lease_seconds,
        isolation=LeasedEventIsolation(storage, settings.update_lease_seconds),
    )


class LeasedEventIsolation(BaseEventIsolation):
    """One update of a chat at a time across replicas: a Redis lock per chat, held at most
    as long as an update's claim (`lease_seconds`), so that a replica killed mid-update
    keeps the chat no longer than it keeps the update; a handler that outlives it finds
    the lock gone and carries on (the claim has run out too)."""

    def __init__(self, storage: RedisStorage, lease_seconds: float) -> None:
        self._redis = storage.redis  # the storage's client, closed with it
        self._key_builder = storage.key_builder
        self._lease = lease_seconds

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncIterator[None]:
        from redis.exceptions import LockNotOwnedError

        lock = self._redis.lock(self._key_builder.build(key, "lock"), timeout=self._lease)
        await lock.acquire()
        try:
            yield
        finally:
            with contextlib.suppress(LockNotOwnedError):
                await lock.release()

    async def close(self) -> None:
        pass
