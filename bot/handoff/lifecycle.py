"""Opening a hand-off (the customer, the bot or an operator asks for it) and closing it
(an operator's /close, or the idle task), with what each side is told.

Opening runs under the customer's lock: the topic is created once and one hand-off opens,
however many of the customer's updates arrive together.
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import User
from aiogram.utils.i18n import I18n
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.handoffs import (
    ClosedBy,
    Trigger,
    close_handoff,
    latest_handoff,
    open_handoff,
    open_handoff_of,
)
from backend.models import Handoff, SupportTopic, utc_now
from backend.observability.metrics import HANDOFFS
from bot.handoff import staff_texts, texts
from bot.handoff.cards import render_card
from bot.handoff.group_queue import post_note, queue_note, queue_reopening, queue_text
from bot.handoff.topics import TopicUnavailableError, ensure_topic, topic_name
from bot.keyboards import rating_keyboard
from bot.services import Services
from indexer.shops import Shop

log = logging.getLogger("bot.handoff")


class Opening(enum.Enum):
    OPENED = "opened"
    ALREADY_OPEN = "already_open"
    NO_GROUP = "no_group"  # the shop named no support group
    UNAVAILABLE = "unavailable"  # it did, but it would not give us a topic


@dataclass(frozen=True)
class Asker:
    """The customer who is to talk to a person: their pseudonym, private chat, Telegram
    user (for the topic's name only; never stored) and language."""

    pseudonym: str
    chat_id: int
    user: User | None
    language: str


@contextlib.contextmanager
def in_language(i18n: I18n, language: str) -> Iterator[None]:
    """Render gettext texts in `language`, inside a handler or outside one."""
    with i18n.context(), i18n.use_locale(language):
        yield


async def start_handoff(
    bot: Bot, services: Services, shop: Shop, asker: Asker, *, trigger: Trigger, reason: str
) -> Opening:
    """Open a hand-off to `shop`'s support group: the topic (created once), the hand-off row
    with its webhook event, and the card queued into the topic. The caller tells the
    customer; nothing is stored when there is no group to hand off to."""
    group = shop.support.chat_id
    if group is None:
        return Opening.NO_GROUP
    desk = services.handoff
    async with desk.locks.hold(shop.id, asker.pseudonym):
        async with services.database.session() as session:
            if await open_handoff_of(session, asker.pseudonym) is not None:
                return Opening.ALREADY_OPEN
        try:
            topic, created = await ensure_topic(
                bot,
                services.database,
                shop.id,
                asker.pseudonym,
                group_chat_id=group,
                name=topic_name(asker.user, shop.name, asker.language),
            )
        except TopicUnavailableError as error:
            log.warning("no topic in the support group of %s: %s", shop.id, error)
            return Opening.UNAVAILABLE
        async with services.database.session() as session:
            _, opened = await _open_in_topic(
                session,
                services,
                shop,
                topic,
                chat_id=asker.chat_id,
                language=asker.language,
                trigger=trigger,
                reason=reason,
                fresh_topic=created,
            )
    desk.ring()
    if opened:
        HANDOFFS.labels("started").inc()
    return Opening.OPENED if opened else Opening.ALREADY_OPEN


async def _open_in_topic(
    session: AsyncSession,
    services: Services,
    shop: Shop,
    topic: SupportTopic,
    *,
    chat_id: int,
    language: str,
    trigger: Trigger,
    reason: str,
    fresh_topic: bool,
) -> tuple[Handoff, bool]:
    """Open the hand-off in the customer's topic and queue its card (after reopening the
    topic, unless just created); or the hand-off already open. (hand-off, opened now)"""
    handoff, opened = await open_handoff(
        session,
        shop_id=shop.id,
        pseudonym=topic.pseudonym,
        chat_id=chat_id,
        language=language,
        trigger=trigger,
        group_chat_id=topic.group_chat_id,
        topic_id=topic.topic_id,
    )
    if not opened:
        return handoff, False
    if not fresh_topic:
        await queue_reopening(session, topic.group_chat_id, topic.topic_id)
    await queue_text(
        session,
        topic.group_chat_id,
        await render_card(session, services, handoff, shop, reason),
        topic_id=topic.topic_id,
        handoff_id=handoff.id,
    )
    return handoff, True


async def take_over(
    bot: Bot,
    services: Services,
    i18n: I18n,
    shop: Shop,
    topic: SupportTopic,
    operator: User | None,
) -> str | None:
    """An operator's /takeover in the topic of a customer the bot is serving: a hand-off
    opens and the customer is told. Returns why not, for the operator, or None."""
    async with (
        services.handoff.locks.hold(shop.id, topic.pseudonym),
        services.database.session() as session,
    ):
        previous = await latest_handoff(session, shop.id, topic.pseudonym)
        if previous is not None and previous.status == "open":
            return staff_texts.ALREADY_WITH_PERSON
        if previous is None or previous.chat_id is None:
            return staff_texts.CUSTOMER_UNREACHABLE
        handoff, opened = await _open_in_topic(
            session,
            services,
            shop,
            topic,
            chat_id=previous.chat_id,
            language=previous.language,
            trigger="operator",
            reason=staff_texts.taken_over_note(operator),
            fresh_topic=False,
        )
        if not opened:
            return staff_texts.ALREADY_WITH_PERSON
    services.handoff.ring()
    with in_language(i18n, handoff.language):
        text = texts.person_joined(shop.name)
    await _tell_customer(bot, services, handoff, text)
    return None


async def close_conversation(
    bot: Bot,
    services: Services,
    i18n: I18n,
    handoff_id: int,
    *,
    closed_by: ClosedBy,
    operator: User | None = None,
) -> Handoff | None:
    """Hand the conversation back to the bot: a note in the topic, and the customer told
    in their language and asked for a rating. None when it was not open (closed meanwhile
    by someone else, who told the customer)."""
    settings = services.handoff.settings
    async with services.database.session() as session:
        handoff = await close_handoff(session, handoff_id, closed_by=closed_by, now=utc_now())
        if handoff is None:
            return None
        note = (
            staff_texts.closed_note(operator)
            if closed_by == "operator"
            else staff_texts.closed_idle_note(settings.idle_minutes)
        )
        await queue_note(session, handoff, note)
    HANDOFFS.labels("closed").inc()
    services.handoff.ring()
    shop = services.shops.resolve(handoff.shop_id)
    with in_language(i18n, handoff.language):
        text = texts.conversation_closed(
            shop.name if shop else handoff.shop_id, idle=closed_by == "idle"
        )
        markup = rating_keyboard(handoff.id or 0)
    if handoff.chat_id is not None:
        try:
            await bot.send_message(chat_id=handoff.chat_id, text=text, reply_markup=markup)
        except TelegramAPIError as error:
            log.warning(
                "closed hand-off %s; customer not told: %s", handoff.id, type(error).__name__
            )
    return handoff


async def _tell_customer(bot: Bot, services: Services, handoff: Handoff, text: str) -> None:
    """A message of the bot to the customer; if it cannot go, the operators learn why."""
    assert handoff.chat_id is not None
    try:
        await bot.send_message(chat_id=handoff.chat_id, text=text)
    except TelegramAPIError as error:
        await post_note(services, handoff, staff_texts.not_delivered_note(error.message))
