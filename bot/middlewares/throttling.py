"""Per-customer flood control: a customer who floods the bot gets one polite notice.

A sliding window per Telegram user; messages over the limit are dropped (nothing is
answered twice, nothing else is stored). The notice is sent once per window. One
process keeps the windows in memory; replicas share them in Redis, so that a customer
whose messages are spread over several replicas meets the same limit.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject
from aiogram.utils.i18n import gettext as _

if TYPE_CHECKING:
    from redis.asyncio import Redis


class RateWindows(Protocol):
    """Sliding windows by key: a Telegram user id, or (the web chat's) a network address."""

    async def allow(self, user_id: int | str) -> bool:
        """Count a message; False when it is over the limit."""

    async def first_warning(self, user_id: int | str) -> bool:
        """True once per window for a customer over the limit."""


class MemoryRateWindows:
    def __init__(self, limit: int, window_seconds: float, max_tracked: int = 100_000) -> None:
        self.limit = limit
        self.window = window_seconds
        self._seen: dict[int | str, deque[float]] = {}
        self._warned: dict[int | str, float] = {}
        self._max_tracked = max_tracked

    async def allow(self, user_id: int | str) -> bool:
        now = time.monotonic()
        stamps = self._seen.setdefault(user_id, deque())
        while stamps and now - stamps[0] > self.window:
            stamps.popleft()
        if len(stamps) >= self.limit:
            return False
        stamps.append(now)
        if len(self._seen) > self._max_tracked:  # forget the quietest customers first
            for stale in [uid for uid, s in self._seen.items() if not s][: self._max_tracked // 10]:
                self._seen.pop(stale, None)
        return True

    async def first_warning(self, user_id: int | str) -> bool:
        now = time.monotonic()
        if now - self._warned.get(user_id, -1e9) > self.window:
            self._warned[user_id] = now
            return True
        return False


class RedisRateWindows:
    """The same sliding window as a sorted set per customer, shared by every replica."""

    def __init__(
        self,
        redis: Redis,
        limit: int,
        window_seconds: float,
        prefix: str = "privacy-assistant:throttle:",
    ) -> None:
        self._redis = redis
        self.limit = limit
        self._window_ms = int(window_seconds * 1000)
        self._prefix = prefix

    async def allow(self, user_id: int | str) -> bool:
        key = f"{self._prefix}{user_id}"
        member = uuid.uuid4().hex
        now_ms = int(time.time() * 1000)
        # Counted first and taken back when over the limit: one round trip, and two
        # replicas counting the same customer at once cannot both slip under it.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, 0, now_ms - self._window_ms)
            pipe.zadd(key, {member: now_ms})
            pipe.zcard(key)
            pipe.pexpire(key, self._window_ms)
            counted = (await pipe.execute())[2]
        if int(counted) > self.limit:
            await self._redis.zrem(key, member)
            return False
        return True

    async def first_warning(self, user_id: int | str) -> bool:
        key = f"{self._prefix}{user_id}:warned"
        return bool(await self._redis.set(key, b"1", nx=True, px=self._window_ms))


class ThrottlingMiddleware(BaseMiddleware):
    def __init__(self, windows: RateWindows) -> None:
        self.windows = windows

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        # Customers in private chats only: staff working a support group are not flooding.
        if (
            not isinstance(event, Message)
            or event.from_user is None
            or event.chat.type != "private"
        ):
            return await handler(event, data)
        user_id = event.from_user.id
        if await self.windows.allow(user_id):
            return await handler(event, data)
        if await self.windows.first_warning(user_id):
            await event.answer(
                _(
                    "You are sending messages faster than I can read them. "
                    "Please wait a few seconds, then ask again."
                )
            )
        return None
