"""The hand-off's background tasks, as one: the paced sender into the support groups and
the closer of idle conversations. `bot.app.serve` runs it beside the notice relay."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiogram import Bot
from aiogram.utils.i18n import I18n

from backend.handoffs import open_handoff_in_topic
from backend.models import SupportTopic, utc_now
from bot.handoff.cards import render_card
from bot.handoff.idle import IdleCloser
from bot.handoff.pacing import GroupPacer
from bot.handoff.sender import SupportGroupSender
from bot.handoff.staff_texts import continued_reason
from bot.services import Services


def group_sender(
    bot: Bot,
    services: Services,
    *,
    clock: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> SupportGroupSender:
    settings = services.handoff.settings

    async def card_for(topic: SupportTopic) -> str | None:
        """The card again, for a topic re-created under an open hand-off."""
        shop = services.shops.resolve(topic.shop_id)
        async with services.database.session() as session:
            handoff = await open_handoff_in_topic(session, topic.group_chat_id, topic.topic_id)
            if handoff is None or shop is None:
                return None
            return await render_card(
                session, services, handoff, shop, continued_reason(handoff.trigger)
            )

    return SupportGroupSender(
        bot,
        services.database,
        GroupPacer(settings.group_messages_per_minute, settings.group_min_gap_seconds),
        card_for=card_for,
        lease_seconds=settings.outbox_lease_seconds,
        poll_seconds=settings.outbox_poll_seconds,
        clock=clock,
        sleep=sleep,
        doorbell=services.handoff.doorbell,
    )


async def run_handoff_tasks(bot: Bot, services: Services, i18n: I18n, stop: asyncio.Event) -> None:
    """Until `stop` is set."""
    await asyncio.gather(
        group_sender(bot, services).run_forever(stop),
        IdleCloser(bot, services, i18n).run_forever(stop),
    )
