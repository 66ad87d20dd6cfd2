"""A customer's forum topic in the shop's support group: created once, reused by every later
hand-off, re-created when Telegram says it is gone.

Two processes may both find no topic and both create one. The `support_topic` primary key
decides: the one whose insert loses deletes the topic it made and uses the winner's.
"""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ForumTopic, User
from sqlalchemy.exc import IntegrityError

from backend.database import Database
from backend.handoffs import claim_topic, move_topic, topic_of
from backend.models import SupportTopic

log = logging.getLogger("bot.handoff")

MAX_TOPIC_NAME = 128
# What Telegram answers when the thread a call names no longer exists.
GONE = ("message thread not found", "topic_deleted", "topic_id_invalid", "thread not found")


class TopicUnavailableError(Exception):
    """The group would not give us a topic (not a forum, no right to manage topics, the
    bot not in it, or no Telegram at all in the local chat)."""


def is_topic_gone(error: TelegramAPIError) -> bool:
    message = error.message.lower()
    return any(marker in message for marker in GONE)


def topic_name(user: User | None, shop_name: str, language: str) -> str:
    """ "Name (@username) · shop · language", cut to Telegram's 128 characters."""
    who = "Customer"
    if user is not None:
        who = " ".join(part for part in (user.first_name, user.last_name) if part) or who
        if user.username:
            who += f" (@{user.username})"
    tail = f" · {shop_name} · {language}"
    if len(who) + len(tail) > MAX_TOPIC_NAME:
        who = who[: max(1, MAX_TOPIC_NAME - len(tail) - 1)] + "…"
    return (who + tail)[:MAX_TOPIC_NAME]


async def _create(bot: Bot, group_chat_id: int, name: str) -> int:
    try:
        created = await bot.create_forum_topic(chat_id=group_chat_id, name=name)
    except TelegramAPIError as error:
        raise TopicUnavailableError(type(error).__name__) from error
    if not isinstance(created, ForumTopic):
        raise TopicUnavailableError("no forum topic in the answer")
    return created.message_thread_id


async def _discard(bot: Bot, group_chat_id: int, topic_id: int) -> None:
    """Remove a topic made in vain; closing it is the fallback without the right to delete."""
    try:
        await bot.delete_forum_topic(chat_id=group_chat_id, message_thread_id=topic_id)
    except TelegramAPIError:
        with contextlib.suppress(TelegramAPIError):
            await bot.close_forum_topic(chat_id=group_chat_id, message_thread_id=topic_id)


async def ensure_topic(
    bot: Bot,
    database: Database,
    shop_id: str,
    pseudonym: str,
    *,
    group_chat_id: int,
    name: str,
) -> tuple[SupportTopic, bool]:
    """The customer's topic in `group_chat_id`, created if there is none (or only one in a
    group the shop no longer uses). Returns (topic, created now). The caller holds the
    customer's lock; this guards against other processes."""
    async with database.session() as session:
        existing = await topic_of(session, shop_id, pseudonym)
    if existing is not None and existing.group_chat_id == group_chat_id:
        return existing, False
    topic_id = await _create(bot, group_chat_id, name)
    try:
        async with database.session() as session:
            if existing is None:
                return (
                    await claim_topic(
                        session, shop_id, pseudonym, group_chat_id=group_chat_id, topic_id=topic_id
                    ),
                    True,
                )
            if await move_topic(session, existing, group_chat_id=group_chat_id, topic_id=topic_id):
                return existing, True
    except IntegrityError:
        pass  # another process created the customer's topic first
    await _discard(bot, group_chat_id, topic_id)
    async with database.session() as session:
        winner = await topic_of(session, shop_id, pseudonym)
    if winner is None:  # created and then removed meanwhile: unlikely, but never loop
        raise TopicUnavailableError("the customer's topic vanished while being created")
    log.info("topic of a customer was created twice at once; kept the first")
    return winner, False


async def recreate_topic(
    bot: Bot, database: Database, gone: SupportTopic, name: str
) -> SupportTopic:
    """A new topic for a customer whose topic Telegram no longer has; the open hand-off and
    the calls queued for the old one move with it."""
    topic_id = await _create(bot, gone.group_chat_id, name)
    async with database.session() as session:
        current = await topic_of(session, gone.shop_id, gone.pseudonym)
        moved = (
            current is not None
            and current.topic_id == gone.topic_id
            and await move_topic(
                session, current, group_chat_id=current.group_chat_id, topic_id=topic_id
            )
        )
    if moved and current is not None:
        return current
    # Another process re-created it first (or the customer was forgotten): keep theirs.
    await _discard(bot, gone.group_chat_id, topic_id)
    async with database.session() as session:
        current = await topic_of(session, gone.shop_id, gone.pseudonym)
    if current is None:
        raise TopicUnavailableError("the customer has no topic any more")
    return current
