"""Every update counted by type and logged under its own request id, with what the
customer typed registered so that no log line can carry it (in polling mode too; the
webhook handler does the same for webhook deliveries)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from backend.observability.logs import request_context
from backend.observability.metrics import UPDATES

_TYPED_IN = ("message", "edited_message", "channel_post", "callback_query")
_TYPED_AS = ("text", "caption", "data")


def _field(part: object, name: str) -> object:
    return part.get(name) if isinstance(part, Mapping) else getattr(part, name, None)


def typed_texts(update: Update | Mapping[str, Any]) -> list[str]:
    """What a customer typed in an update, as aiogram parsed it or as Telegram sent it
    (the webhook reads it before the dispatcher does), to be kept out of every log line."""
    parts = (_field(update, kind) for kind in _TYPED_IN)
    values = (_field(part, name) for part in parts if part is not None for name in _TYPED_AS)
    return [value for value in values if isinstance(value, str)]


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
