"""Every app process answers from the newest policy version within seconds of its publish,
whichever process (or CLI) published it.

The index folder's CURRENT pointer is the truth; the follower looks at it when told to
and, in any case, every `poll_seconds` (one small file read: the embedded fallback, and
what catches a signal lost while a listener reconnects). It is told by PostgreSQL
LISTEN/NOTIFY when the database is PostgreSQL and by Redis pub/sub when REDIS_URL is
set: the publisher's `backend.index_signal.send_index_signal`. A switch loads the new
version beside the old and swaps (`Retriever.refresh`): no question waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from backend.index_signal import is_postgres, listen_postgres, listen_redis
from bot.services import Services
from bot.shop_directory import ShopDirectory

log = logging.getLogger("bot.index_follow")

Refresh = Callable[[], Awaitable[bool]]
OnSwitch = Callable[[], Awaitable[None]]


class IndexFollower:
    def __init__(
        self,
        refresh: Refresh,
        *,
        poll_seconds: float,
        database_url: str | None = None,
        redis_url: str | None = None,
        on_switch: OnSwitch | None = None,
    ) -> None:
        self._refresh = refresh
        self._poll_seconds = poll_seconds
        self._database_url = database_url if database_url and is_postgres(database_url) else None
        self._redis_url = redis_url or None
        self._on_switch = on_switch
        self._wake = asyncio.Event()
        self.switches = 0
        # Set once every listener is subscribed (at once without listeners).
        self.listening = asyncio.Event()

    @property
    def channels(self) -> list[str]:
        return [
            name
            for name, url in (("postgresql", self._database_url), ("redis", self._redis_url))
            if url
        ]

    def wake(self, reason: str = "") -> None:
        """Look at CURRENT now (a signal arrived, or this process published)."""
        self._wake.set()

    async def run(self) -> None:
        """Follow until cancelled."""
        ready: list[asyncio.Event] = []
        listeners: list[asyncio.Task[None]] = []
        if self._database_url:
            ready.append(asyncio.Event())
            listeners.append(
                asyncio.create_task(
                    listen_postgres(self._database_url, self.wake, ready[-1]),
                    name="index-listen-postgres",
                )
            )
        if self._redis_url:
            ready.append(asyncio.Event())
            listeners.append(
                asyncio.create_task(
                    listen_redis(self._redis_url, self.wake, ready[-1]), name="index-listen-redis"
                )
            )
        announce = asyncio.create_task(self._when_listening(ready))
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
                self._wake.clear()
                await self._check()
        finally:
            await _cancel(*listeners, announce)

    async def _when_listening(self, ready: list[asyncio.Event]) -> None:
        for event in ready:
            await event.wait()
        self.listening.set()

    async def _check(self) -> None:
        try:
            switched = await self._refresh()
        except Exception:
            log.exception("could not load the new index version; still serving the old one")
            return
        if not switched:
            return
        self.switches += 1
        if self._on_switch is not None:
            try:
                await self._on_switch()
            except Exception:
                log.exception("after the index switch")


async def serve_newest(services: Services) -> bool:
    """Switch this process to the published version now (after it published one itself);
    True when it switched."""
    switched = await services.engine.refresh_index()
    if switched:
        await index_switched(services)
    return switched


async def index_switched(services: Services) -> None:
    """After a switch: the shops as shop.toml now says (document versions changed), and
    the announcer woken to tell subscribers of the change."""
    log.info("now serving index version %d", services.engine.retriever.manifest.version)
    if services.policy_desk is not None:
        knowledge = services.policy_desk.settings.knowledge_dir
        try:
            services.shops = await asyncio.to_thread(ShopDirectory.from_knowledge, knowledge)
        except Exception:
            log.exception("could not reload the shops; keeping those loaded before")
    services.policy_changed.set()


async def _cancel(*tasks: asyncio.Task[None]) -> None:
    """Cancel and wait for `tasks`. Again when one is still running: redis-py swallows a
    cancellation that lands while it connects, and the listener would run on for good,
    keeping the process from stopping."""
    pending = set(tasks)
    for _ in range(5):
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
        if not pending:
            return
    log.warning("%d index listener(s) did not stop", len(pending))
