"""Every update counted by type and logged under its own request id, with what the
customer typed registered so that no log line can carry it (in polling mode too; the
webhook handler does the same for webhook deliveries)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from backend.observability.logs import request_context
from backend.observability.metrics import UPDATES


def typed_texts(update: Update) -> list[str]:
    texts: list[str] = []
    for part in (update.message, update.edited_message, update.callback_query):
        for name in ("text", "caption", "data"):
            value = getattr(part, name, None) if part is not None else None
            if isinstance(value, str):
                texts.append(value)
    return texts


class ObservingMiddleware(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        UPDATES.labels(event.event_type).inc()
        with request_context(f"update-{event.update_id}", *typed_texts(event)):
            return await handler(event, data)
