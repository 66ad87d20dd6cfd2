"""Outgoing requests within Telegram's limits, and a retry when Telegram says "wait".

Telegram allows about one message a second per chat (short bursts are tolerated), 30 a
second overall, and 20 a minute into one group. Every send waits for room in all three
buckets; a 429 answer is honoured by sleeping `retry_after` and trying again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

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


class SendingLimits(BaseRequestMiddleware):
    def __init__(
        self,
        per_chat_per_second: float = 1.0,
        chat_burst: float = 3.0,
        overall_per_second: float = 30.0,
        group_per_minute: float = 20.0,
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self._per_chat = per_chat_per_second
        self._chat_burst = chat_burst
        self._per_group = group_per_minute / 60.0
        self._overall = TokenBucket(overall_per_second, overall_per_second)
        self._chats: dict[int | str, TokenBucket] = {}
        self._lock = asyncio.Lock()

    def _bucket(self, chat_id: int | str) -> TokenBucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            group = (isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str)
            bucket = (
                TokenBucket(self._per_group, 3)
                if group
                else TokenBucket(self._per_chat, self._chat_burst)
            )
            if len(self._chats) > 50_000:
                self._chats.clear()  # buckets refill in seconds; forgetting them is harmless
            self._chats[chat_id] = bucket
        return bucket

    async def _wait_for_room(self, chat_id: int | str | None) -> None:
        while True:
            async with self._lock:
                delay = self._overall.wait_time()
                if delay == 0 and chat_id is not None:
                    delay = self._bucket(chat_id).wait_time()
                    if delay:
                        self._overall._tokens += 1  # give the overall token back
            if delay == 0:
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
