"""Outgoing requests within Telegram's limits, and a retry when Telegram says "wait".

Telegram allows about one message a second per chat (short bursts are tolerated), 30 a
second overall, and 20 a minute into one group. Every send waits for room in all three
buckets; a 429 answer is honoured by sleeping `retry_after` and trying again. The buckets
live in memory for one process and in Redis for replicas (they are the same bot to
Telegram, so they share its limits).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

if TYPE_CHECKING:
    from redis.asyncio import Redis

MAX_RETRIES = 3
# Methods that put a message into a chat; reading and answering callbacks are not limited.
SENDING = {
    "sendMessage",
    "sendDocument",
    "sendPhoto",
    "copyMessage",
    "forwardMessage",
    "editMessageText",
    "sendVoice",
    "sendVideo",
    "sendSticker",
}


class TokenBucket:
    """`rate` tokens a second, at most `burst` at once."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = time.monotonic()

    def wait_time(self) -> float:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate


@dataclass(frozen=True)
class Rates:
    """Telegram's limits, as token buckets: (tokens a second, burst)."""

    per_chat: tuple[float, float] = (1.0, 3.0)
    overall: tuple[float, float] = (30.0, 30.0)
    per_group: tuple[float, float] = (20.0 / 60.0, 3.0)

    def for_chat(self, chat_id: int | str) -> tuple[float, float]:
        group = (isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str)
        return self.per_group if group else self.per_chat


class SendingRoom(Protocol):
    async def wait_time(self, chat_id: int | str | None) -> float:
        """0 and a send counted, or the seconds to wait before asking again."""


class MemorySendingRoom:
    """One process's buckets."""

    def __init__(self, rates: Rates | None = None) -> None:
        self.rates = rates or Rates()
        self._overall = TokenBucket(*self.rates.overall)
        self._chats: dict[int | str, TokenBucket] = {}
        self._lock = asyncio.Lock()

    def _bucket(self, chat_id: int | str) -> TokenBucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            if len(self._chats) > 50_000:
                self._chats.clear()  # buckets refill in seconds; forgetting them is harmless
            bucket = self._chats[chat_id] = TokenBucket(*self.rates.for_chat(chat_id))
        return bucket

    async def wait_time(self, chat_id: int | str | None) -> float:
        async with self._lock:
            delay = self._overall.wait_time()
            if delay == 0 and chat_id is not None:
                delay = self._bucket(chat_id).wait_time()
                if delay:
                    self._overall._tokens += 1  # give the overall token back
            return delay


# Both buckets (overall, and the chat's when there is one) refilled by Redis's clock and
# taken together or not at all; the answer is the milliseconds to wait, as a string.
_TAKE = """
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local wait, tokens = 0, {}
for i = 1, #KEYS do
    local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
    local state = redis.call('HMGET', KEYS[i], 't', 's')
    local t = tonumber(state[1]) or burst
    local stamp = tonumber(state[2]) or now
    t = math.min(burst, t + math.max(0, now - stamp) * rate)
    if t < 1 then wait = math.max(wait, (1 - t) / rate) end
    tokens[i] = t
end
for i = 1, #KEYS do
    if wait == 0 then tokens[i] = tokens[i] - 1 end
    redis.call('HSET', KEYS[i], 't', tostring(tokens[i]), 's', now)
    redis.call('PEXPIRE', KEYS[i], 60000)
end
return tostring(wait)
"""


class RedisSendingRoom:
    """The same buckets shared by every replica of one bot in Redis, so that together they
    stay within Telegram's limits (30 a second overall, one a second per chat)."""

    def __init__(self, redis: Redis, bot_id: int, rates: Rates | None = None) -> None:
        self.rates = rates or Rates()
        self._redis = redis
        self._prefix = f"privacy-assistant:send:{bot_id}:"
        self._take = redis.register_script(_TAKE)

    async def wait_time(self, chat_id: int | str | None) -> float:
        keys = [self._prefix + "all"]
        rates = [self.rates.overall]
        if chat_id is not None:
            keys.append(f"{self._prefix}chat:{chat_id}")
            rates.append(self.rates.for_chat(chat_id))
        # Per millisecond, as the script counts.
        args = [value for rate, burst in rates for value in (rate / 1000.0, burst)]
        waited = await self._take(keys=keys, args=args)
        return float(waited) / 1000.0


class SendingLimits(BaseRequestMiddleware):
    def __init__(self, room: SendingRoom | None = None, enabled: bool = True) -> None:
        self.enabled = enabled
        self.room = room or MemorySendingRoom()

    async def _wait_for_room(self, chat_id: int | str | None) -> None:
        while True:
            delay = await self.room.wait_time(chat_id)
            if delay <= 0:
                return
            await asyncio.sleep(delay)

    async def __call__(
        self,
        make_request: Callable[
            [Bot, TelegramMethod[TelegramType]], Awaitable[Response[TelegramType]]
        ],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = method.__api_method__
        if self.enabled and name in SENDING:
            await self._wait_for_room(getattr(method, "chat_id", None))
        for attempt in range(MAX_RETRIES + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == MAX_RETRIES:
                    raise
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable")


_PINNED_RESPONSE_TYPES: list[Any] = []


def pin_response_types() -> None:
    """Create aiogram's `Response[...]` model for every Bot API method once, and keep it.

    aiogram parses each answer with `Response[method.__returning__]`; pydantic caches such
    parametrised models only weakly, so without a strong reference each call built the
    model again (about 0.3 ms of the event loop per reply, seen with py-spy under load).
    About 60 ms, once per process.
    """
    if _PINNED_RESPONSE_TYPES:
        return
    import aiogram.methods as methods
    from aiogram.methods.base import Response, TelegramMethod

    for name in dir(methods):
        method = getattr(methods, name)
        if isinstance(method, type) and issubclass(method, TelegramMethod):
            returning: Any = getattr(method, "__returning__", None)
            if returning is None:
                continue
            try:
                _PINNED_RESPONSE_TYPES.append(Response.__class_getitem__(returning))
            except Exception:
                continue
