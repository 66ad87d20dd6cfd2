"""Telling the customers who sent /notify that their shop's policy changed, in their
language, with the sections that changed.

The announcer claims each recorded change (see `backend.policy_announcements`: one
process per change, resumable after a crash, never twice after a restart) and sends at
most `per_second` messages a second overall, under Telegram's 30, so that answers to
customers still get through meanwhile. A customer who blocked the bot is unsubscribed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from backend.models import PolicySubscription
from backend.policy_announcements import (
    Announcement,
    advance_announcement,
    claim_announcement,
    finish_announcement,
    subscribers_after,
    unsubscribe,
)
from bot.notices import is_gone_for_good, notice_language
from bot.services import Services
from indexer.changes import PolicyDiff
from indexer.shops import Shop

log = logging.getLogger("bot.announcements")

TITLES_SHOWN = 6


def _titles(titles: tuple[str, ...]) -> str:
    shown = "; ".join(titles[:TITLES_SHOWN])
    return shown + (" …" if len(titles) > TITLES_SHOWN else "")


def announcement_text(shop_name: str, action: str, summary: dict[str, Any]) -> str:
    """The message, in the current locale (customer-facing)."""
    diff = PolicyDiff.from_summary(summary)
    version = str(summary.get("version") or "")
    if action == "rollback":
        lines = [
            _("{shop} went back to the previous version of its privacy policy ({version}).").format(
                shop=shop_name, version=version
            )
        ]
    else:
        lines = [
            _("{shop} has updated its privacy policy (version {version}).").format(
                shop=shop_name, version=version
            )
        ]
    if diff.added:
        lines.append(_("New sections: {titles}").format(titles=_titles(diff.added)))
    if diff.removed:
        lines.append(_("Removed sections: {titles}").format(titles=_titles(diff.removed)))
    if diff.reworded:
        lines.append(_("Changed sections: {titles}").format(titles=_titles(diff.reworded)))
    lines.append(_("Ask me about it in your own words. /notify off stops these messages."))
    return "\n".join(lines)


class PolicyAnnouncer:
    def __init__(
        self,
        bot: Bot,
        services: Services,
        i18n: I18n,
        *,
        per_second: float = 25.0,
        batch: int = 50,
        check_seconds: float = 60.0,
        worker: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._bot = bot
        self._services = services
        self._i18n = i18n
        self._interval = 1.0 / per_second
        # Injected by tests, which check the pacing without waiting for it.
        self._clock = clock
        self._sleep = sleep
        self._batch = batch
        self._check_seconds = check_seconds
        self._worker = worker or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._next_send = 0.0

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Announce until `stop` is set: at once when this process published or switched
        to a new policy, else every `check_seconds` (another process may have)."""
        due = self._services.policy_changed
        while not stop.is_set():
            due.clear()
            try:
                await self.run_once()
            except Exception:
                log.exception("policy announcements failed; retrying later")
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(due.wait())]
            try:
                await asyncio.wait(
                    waits, timeout=self._check_seconds, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiting in waits:
                    waiting.cancel()

    async def run_once(self) -> int:
        """Announce every change waiting; returns how many messages Telegram took."""
        sent = 0
        while True:
            async with self._services.database.session() as session:
                announcement = await claim_announcement(session, self._worker)
            if announcement is None:
                return sent
            sent += await self._announce(announcement)

    async def _announce(self, announcement: Announcement) -> int:
        shop = self._services.shops.resolve(announcement.shop_id)
        name = shop.name if shop is not None else announcement.shop_id
        after, sent, told = announcement.after, announcement.sent, 0
        database = self._services.database
        while True:
            async with database.session() as session:
                batch = await subscribers_after(session, announcement.shop_id, after, self._batch)
            if not batch:
                break
            for subscription, chosen in batch:
                if await self._tell(subscription, chosen, shop, name, announcement):
                    told += 1
            after = batch[-1][0].pseudonym
            async with database.session() as session:
                kept = await advance_announcement(
                    session, announcement.change_id, self._worker, after, sent + told
                )
            if not kept:
                log.warning("lost the claim of policy change %d", announcement.change_id)
                return told
        async with database.session() as session:
            await finish_announcement(session, announcement.change_id, self._worker, sent + told)
        log.info("policy change %d announced to %d", announcement.change_id, sent + told)
        return told

    async def _pace(self) -> None:
        now = self._clock()
        self._next_send = max(self._next_send, now)
        wait = self._next_send - now
        self._next_send += self._interval
        if wait > 0:
            await self._sleep(wait)

    async def _tell(
        self,
        subscription: PolicySubscription,
        chosen: str | None,
        shop: Shop | None,
        name: str,
        announcement: Announcement,
    ) -> bool:
        language = notice_language(chosen, shop, subscription.language)
        with self._i18n.context(), self._i18n.use_locale(language):
            text = announcement_text(name, announcement.action, announcement.summary)
        for attempt in range(2):
            await self._pace()
            try:
                await self._bot.send_message(subscription.chat_id, text, parse_mode=None)
                return True
            except TelegramRetryAfter as error:
                if attempt:
                    break
                await asyncio.sleep(error.retry_after)
            except TelegramAPIError as error:
                if is_gone_for_good(error):
                    async with self._services.database.session() as session:
                        await unsubscribe(session, subscription.shop_id, subscription.pseudonym)
                else:
                    log.warning("announcement not sent: %s", type(error).__name__)
                break
        return False
