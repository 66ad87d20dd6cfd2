"""Who is writing: a pseudonym (never the Telegram id) and what they chose before."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from backend.customers import get_profile
from backend.database import Database
from backend.pseudonyms import pseudonym_for


@dataclass
class Customer:
    pseudonym: str
    shop_id: str | None
    language: str | None  # chosen with /language; None means "follow Telegram"


class CustomerMiddleware(BaseMiddleware):
    def __init__(self, database: Database, pseudonym_key: bytes) -> None:
        self.database = database
        self.pseudonym_key = pseudonym_key

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is not None and not user.is_bot:
            pseudonym = pseudonym_for(user.id, self.pseudonym_key)
            async with self.database.session() as session:
                profile = await get_profile(session, pseudonym)
            data["customer"] = Customer(
                pseudonym,
                profile.shop_id if profile else None,
                profile.language if profile else None,
            )
        return await handler(event, data)
