"""Per-customer flood control: a customer who floods the bot gets one polite notice.

A sliding window per Telegram user; messages over the limit are dropped (nothing is
answered twice, nothing else is stored). The notice is sent once per window.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject
from aiogram.utils.i18n import gettext as _


class ThrottlingMiddleware(BaseMiddleware):
    def __init__(self, limit: int, window_seconds: float, max_tracked: int = 100_000) -> None:
        self.limit = limit
        self.window = window_seconds
        self._seen: dict[int, deque[float]] = {}
        self._warned: dict[int, float] = {}
        self._max_tracked = max_tracked

    def _allow(self, user_id: int, now: float) -> bool:
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
        now = time.monotonic()
        if self._allow(user_id, now):
            return await handler(event, data)
        if now - self._warned.get(user_id, -1e9) > self.window:
            self._warned[user_id] = now
            await event.answer(
                _(
                    "You are sending messages faster than I can read them. "
                    "Please wait a few seconds, then ask again."
                )
            )
        return None
