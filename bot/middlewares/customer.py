"""Who is writing: a pseudonym (never the Telegram id) and what they chose before."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from backend.customers import get_profile
from backend.database import Database
from backend.pseudonyms import pseudonym_for

MAX_CACHED = 50_000


@dataclass
class Customer:
    pseudonym: str
    shop_id: str | None
    language: str | None  # chosen with /language; None means "follow Telegram"


class CustomerMiddleware(BaseMiddleware):
    """Puts the `Customer` into the handler data.

    Profiles are cached for a few seconds: the lookup is a database round trip on every
    update otherwise. Handlers change the cached object itself when the customer changes
    shop or language, so this process never serves a stale choice; another replica may,
    for at most `ttl_seconds`.
    """

    def __init__(self, database: Database, pseudonym_key: bytes, ttl_seconds: float = 5.0) -> None:
        self.database = database
        self.pseudonym_key = pseudonym_key
        self.ttl = ttl_seconds
        self._cache: dict[str, tuple[float, Customer]] = {}

    async def _customer(self, pseudonym: str) -> Customer:
        now = time.monotonic()
        cached = self._cache.get(pseudonym)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self.database.session() as session:
            profile = await get_profile(session, pseudonym)
        customer = Customer(
            pseudonym,
            profile.shop_id if profile else None,
            profile.language if profile else None,
        )
        if len(self._cache) > MAX_CACHED:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        self._cache[pseudonym] = (now + self.ttl, customer)
        return customer

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is not None and not user.is_bot:
            customer = await self._customer(pseudonym_for(user.id, self.pseudonym_key))
            # A door that belongs to one shop (the web chat on that shop's page) says so.
            door_shop = data.get("door_shop")
            if door_shop and customer.shop_id != door_shop:
                customer.shop_id = door_shop
            data["customer"] = customer
        return await handler(event, data)
