"""Conversations with a person in which nobody wrote for a while go back to the bot, closed
the same way as by an operator's /close; and closed hand-offs forget the customer's chat
after a while."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.utils.i18n import I18n

from backend.handoffs import forget_chats_closed_before, idle_handoffs
from backend.models import utc_now
from bot.handoff.lifecycle import close_conversation
from bot.services import Services

log = logging.getLogger("bot.handoff")


class IdleCloser:
    def __init__(
        self,
        bot: Bot,
        services: Services,
        i18n: I18n,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.bot = bot
        self.services = services
        self.i18n = i18n
        self._clock = clock

    async def run_once(self) -> int:
        """Close what has been idle too long; returns how many were closed."""
        settings = self.services.handoff.settings
        now = self._clock()
        async with self.services.database.session() as session:
            idle = await idle_handoffs(
                session, quiet_since=now - timedelta(minutes=settings.idle_minutes)
            )
            await forget_chats_closed_before(session, now - timedelta(days=settings.keep_chat_days))
        closed = 0
        for handoff in idle:
            assert handoff.id is not None
            if await close_conversation(
                self.bot, self.services, self.i18n, handoff.id, closed_by="idle"
            ):
                closed += 1
        return closed

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                closed = await self.run_once()
                if closed:
                    log.info("closed %d idle hand-offs", closed)
            except Exception:
                log.exception("closing idle hand-offs failed; retrying at the next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    stop.wait(), self.services.handoff.settings.idle_check_seconds
                )
