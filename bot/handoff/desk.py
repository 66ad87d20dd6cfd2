"""What the hand-off shares within one process: its settings, a lock per customer, and the
doorbell that wakes the group sender when something was queued."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bot.handoff.settings import HandoffSettings


class CustomerLocks:
    """One asyncio lock per (shop, pseudonym), alive only while someone holds or awaits it.

    Two updates of one customer handled at once (a double tap, two messages sent together)
    would otherwise both create a topic or both open a hand-off; across processes the
    database's keys decide (see `backend.handoffs`)."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, shop_id: str, pseudonym: str) -> AsyncIterator[None]:
        key = (shop_id, pseudonym)
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def wait_free(self, shop_id: str, pseudonym: str) -> None:
        """Return once nobody holds the customer's lock: a message that arrives while the
        hand-off is being opened waits for it, and is then relayed."""
        if (shop_id, pseudonym) in self._locks:
            async with self.hold(shop_id, pseudonym):
                pass


@dataclass
class HandoffDesk:
    settings: HandoffSettings = field(default_factory=HandoffSettings)
    locks: CustomerLocks = field(default_factory=CustomerLocks)
    doorbell: asyncio.Event = field(default_factory=asyncio.Event)

    def ring(self) -> None:
        """Something was queued for a support group: the sender need not wait for its poll."""
        self.doorbell.set()
