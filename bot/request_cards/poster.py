"""The background side of the cards: post the card of every request that needs one, and
edit the cards of requests that changed elsewhere (the REST API, the customer canceling,
the housekeeping expiring), so that a card never shows a step that is no longer open.

Which cards to edit: those whose request's `updated_at` is past the last look (less a
margin for transactions that committed late); what a card shows is remembered per process,
so a card is edited only when what it would show differs. After a start the last day's
changes are looked at once, to catch up with what happened while no process ran.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from backend.models import PrivacyRequest, utc_now
from backend.request_cards import (
    CLAIM_LEASE,
    card_posted,
    cards_changed_since,
    claim_card,
    release_claim,
    requests_without_card,
)
from bot.request_cards.board import edit_card, post_card
from bot.request_cards.cards import card_view
from bot.request_cards.groups import support_groups
from bot.services import Services

log = logging.getLogger("bot.request_cards")

CATCH_UP: Final = timedelta(days=1)
MARGIN: Final = timedelta(minutes=1)
# After Telegram refused a post into a group (the bot was removed, say), the group waits.
GROUP_BACKOFF: Final = timedelta(minutes=5)
# What the cards show is remembered for this many at most (forgetting costs an edit).
REMEMBERED: Final = 10_000


class CardPoster:
    def __init__(
        self,
        bot: Bot,
        services: Services,
        *,
        clock: Callable[[], datetime] = utc_now,
        batch: int = 20,
        lease: timedelta = CLAIM_LEASE,
    ) -> None:
        self._bot = bot
        self._services = services
        self._clock = clock
        self._batch = batch
        self._lease = lease
        self._shown: dict[str, str] = {}
        self._since: datetime | None = None
        self._group_waits_until: dict[int, datetime] = {}

    async def post_new(self) -> int:
        """Post the cards still missing (one batch); how many went out."""
        groups = support_groups(self._services.shops)
        now = self._clock()
        async with self._services.database.session() as session:
            needing = await requests_without_card(
                session, groups, now=now, lease=self._lease, limit=self._batch
            )
        posted = 0
        for request in needing:
            group = groups[request.shop_id]
            if self._group_waits_until.get(group, now) > now:
                continue
            posted += await self._post(request, group, now)
        return posted

    async def _post(self, request: PrivacyRequest, group: int, now: datetime) -> bool:
        async with self._services.database.session() as session:
            if not await claim_card(session, request.id, group, now=now, lease=self._lease):
                return False  # another process has it
        try:
            view = await card_view(self._services, request)
            message_id = await post_card(self._bot, group, view)
        except Exception as error:
            async with self._services.database.session() as session:
                await release_claim(session, request.id)
            if isinstance(error, TelegramAPIError):
                self._group_waits_until[group] = now + GROUP_BACKOFF
                log.warning(
                    "card of %s not posted to %s: %s", request.id, group, type(error).__name__
                )
                return False
            raise
        async with self._services.database.session() as session:
            recorded = await card_posted(session, request.id, message_id, now=self._clock())
        if not recorded:
            log.warning("card of %s posted after its claim was taken over", request.id)
        self._remember(request.id, view.fingerprint())
        return True

    def _remember(self, request_id: str, fingerprint: str) -> None:
        if len(self._shown) >= REMEMBERED:
            self._shown.clear()
        self._shown[request_id] = fingerprint

    async def refresh_changed(self) -> int:
        """Edit the cards of requests changed since the last look; how many were edited."""
        now = self._clock()
        since = self._since or now - CATCH_UP
        async with self._services.database.session() as session:
            changed = await cards_changed_since(session, since, limit=self._batch * 10)
        # A full page may hide more: the next look starts where this one ended.
        if len(changed) == self._batch * 10:
            self._since = changed[-1][1].updated_at - timedelta(microseconds=1)
        else:
            self._since = now - MARGIN
        edited = 0
        for card, request in changed:
            view = await card_view(self._services, request)
            fingerprint = view.fingerprint()
            if self._shown.get(request.id) == fingerprint:
                continue
            try:
                shown = await edit_card(self._bot, card, view)
            except TelegramAPIError as error:
                log.warning("card of %s not edited: %s", request.id, type(error).__name__)
                continue
            if shown:
                self._remember(request.id, fingerprint)
                edited += 1
        return edited
