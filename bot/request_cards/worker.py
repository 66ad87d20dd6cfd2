"""The request cards' background task, started beside the notice relay (`bot.app.serve`):
every few seconds it posts missing cards, edits changed ones and sends the digest when its
hour comes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiogram import Bot

from backend.models import utc_now
from backend.request_cards import DigestLeadership
from bot.request_cards.digest import DigestSender
from bot.request_cards.poster import CardPoster
from bot.request_cards.settings import CardSettings
from bot.services import Services

log = logging.getLogger("bot.request_cards")


@dataclass(frozen=True)
class Round:
    """What one round did."""

    posted: int
    edited: int
    digest_messages: int


class RequestCardWorker:
    def __init__(
        self,
        bot: Bot,
        services: Services,
        settings: CardSettings | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        leadership: DigestLeadership | None = None,
    ) -> None:
        self.settings = settings or CardSettings()
        self.poster = CardPoster(bot, services, clock=clock)
        self.digest = DigestSender(
            bot,
            services,
            hour=self.settings.digest_hour,
            within=self.settings.digest_within,
            clock=clock,
            leadership=leadership,
        )

    async def run_once(self) -> Round:
        posted = await self.poster.post_new()
        edited = await self.poster.refresh_changed()
        return Round(posted, edited, await self.digest.run_once())

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Rounds until `stop` is set; an error (the database away) is logged and the next
        round tries again."""
        try:
            while not stop.is_set():
                try:
                    await self.run_once()
                except Exception:
                    log.exception("request cards round failed; retrying at the next interval")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.poll_seconds)
        finally:
            await self.digest.close()
