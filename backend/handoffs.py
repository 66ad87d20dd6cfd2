"""Conversations handed to a person in the shop's support group: who is talking to a person
and where (the forum topic), which messages were copied where, the paced queue of calls
into the group, and the operators' canned replies.

Every function takes the caller's session first: a hand-off opens together with its
webhook event, or neither does. Nothing here speaks to Telegram; `bot.handoff` does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import and_, delete, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.database import insert_for
from backend.models import (
    CannedReply,
    ConversationRecord,
    Handoff,
    PrivacyRequest,
    RelayedMessage,
    SupportOutboxItem,
    SupportTopic,
    utc_now,
)
from backend.privacy_requests.lifecycle import OPEN_STATUSES
from backend.webhooks.events import HANDOFF_REQUESTED, record_event

Trigger = Literal["customer", "bot", "operator"]
Direction = Literal["to_group", "to_customer"]
ClosedBy = Literal["operator", "idle"]

CANNED_KEY: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
CANNED_MAX_CHARS: Final = 4000  # a Telegram message holds 4096; leave room for nothing else


# ---- Topics ---------------------------------------------------------------------------------


async def topic_of(session: AsyncSession, shop_id: str, pseudonym: str) -> SupportTopic | None:
    return await session.get(SupportTopic, (shop_id, pseudonym), populate_existing=True)


async def topic_at(session: AsyncSession, group_chat_id: int, topic_id: int) -> SupportTopic | None:
    """The customer's topic behind a thread of a support group, or None."""
    rows = await session.exec(
        select(SupportTopic)
        .where(col(SupportTopic.group_chat_id) == group_chat_id)
        .where(col(SupportTopic.topic_id) == topic_id)
    )
    return rows.first()


async def claim_topic(
    session: AsyncSession,
    shop_id: str,
    pseudonym: str,
    *,
    group_chat_id: int,
    topic_id: int,
    now: datetime | None = None,
) -> SupportTopic:
    """Record the customer's new topic. The primary key makes this the arbiter between two
    processes that both created one: the loser's flush raises IntegrityError."""
    topic = SupportTopic(
        shop_id=shop_id,
        pseudonym=pseudonym,
        group_chat_id=group_chat_id,
        topic_id=topic_id,
        created_at=now or utc_now(),
    )
    session.add(topic)
    await session.flush()
    return topic


async def move_topic(
    session: AsyncSession,
    topic: SupportTopic,
    *,
    group_chat_id: int,
    topic_id: int,
) -> bool:
    """Point the customer at a new topic (the old one is gone, or the shop moved to another
    group), with the open hand-off and the calls still queued for the old one.

    False, and nothing changed, when another process moved it first."""
    old_group, old_topic = topic.group_chat_id, topic.topic_id
    result = await session.exec(
        update(SupportTopic)
        .where(col(SupportTopic.shop_id) == topic.shop_id)
        .where(col(SupportTopic.pseudonym) == topic.pseudonym)
        .where(col(SupportTopic.group_chat_id) == old_group)
        .where(col(SupportTopic.topic_id) == old_topic)
        .values(group_chat_id=group_chat_id, topic_id=topic_id)
    )
    if result.rowcount != 1:
        return False
    await session.exec(
        update(Handoff)
        .where(col(Handoff.shop_id) == topic.shop_id)
        .where(col(Handoff.pseudonym) == topic.pseudonym)
        .where(col(Handoff.status) == "open")
        .values(group_chat_id=group_chat_id, topic_id=topic_id)
    )
    queued = await session.exec(
        select(SupportOutboxItem).where(col(SupportOutboxItem.group_chat_id) == old_group)
    )
    for item in queued:
        params = dict(item.payload.get("params", {}))
        if params.get("message_thread_id") != old_topic:
            continue
        params["chat_id"] = group_chat_id
        params["message_thread_id"] = topic_id
        item.payload = {**item.payload, "params": params}  # a new dict: JSON is not tracked
        item.group_chat_id = group_chat_id
        session.add(item)
    await session.flush()
    topic.group_chat_id, topic.topic_id = group_chat_id, topic_id
    return True


async def _hold_customer(session: AsyncSession, shop_id: str, pseudonym: str) -> None:
    """Take the customer's topic row for the rest of the transaction (a row lock on
    PostgreSQL, the write lock on SQLite): two processes opening a hand-off for the same
    customer at once take turns, and the second sees the first one's hand-off."""
    await session.exec(
        update(SupportTopic)
        .where(col(SupportTopic.shop_id) == shop_id)
        .where(col(SupportTopic.pseudonym) == pseudonym)
        .values(topic_id=SupportTopic.topic_id)
    )


# ---- Hand-offs ------------------------------------------------------------------------------


async def open_handoff(
    session: AsyncSession,
    *,
    shop_id: str,
    pseudonym: str,
    chat_id: int,
    language: str,
    trigger: Trigger,
    group_chat_id: int,
    topic_id: int,
    now: datetime | None = None,
) -> tuple[Handoff, bool]:
    """Open a hand-off and write its `conversation.handoff_requested` event; or, when the
    customer already talks to a person, that hand-off. Returns (hand-off, opened now)."""
    now = now or utc_now()
    await _hold_customer(session, shop_id, pseudonym)
    existing = await open_handoff_of(session, pseudonym)
    if existing is not None:
        return existing, False
    handoff = Handoff(
        shop_id=shop_id,
        pseudonym=pseudonym,
        chat_id=chat_id,
        language=language,
        trigger=trigger,
        group_chat_id=group_chat_id,
        topic_id=topic_id,
        opened_at=now,
        last_activity_at=now,
    )
    session.add(handoff)
    await session.flush()
    assert handoff.id is not None  # assigned by the flush
    # Thin: the shop's backend learns that a person is needed, not who or about what.
    await record_event(
        session,
        shop_id,
        HANDOFF_REQUESTED,
        {"handoff_id": handoff.id, "shop": shop_id, "language": language, "trigger": trigger},
        now=now,
    )
    return handoff, True


async def open_handoff_of(session: AsyncSession, pseudonym: str) -> Handoff | None:
    rows = await session.exec(
        select(Handoff)
        .where(col(Handoff.pseudonym) == pseudonym)
        .where(col(Handoff.status) == "open")
        .order_by(col(Handoff.id))
    )
    return rows.first()


async def handoff_with_person(
    session: AsyncSession, pseudonym: str, *, comment_since: datetime
) -> Handoff | None:
    """The customer's open hand-off; else the one just closed whose rating waits for the
    optional comment (rated, not commented, active since `comment_since`); else None.
    One query, because it runs on every private message."""
    awaiting_comment = and_(
        col(Handoff.status) == "closed",
        col(Handoff.rating).is_not(None),
        col(Handoff.rating_comment).is_(None),
        col(Handoff.last_activity_at) >= comment_since,
    )
    rows = await session.exec(
        select(Handoff)
        .where(col(Handoff.pseudonym) == pseudonym)
        .where(or_(col(Handoff.status) == "open", awaiting_comment))
        .order_by(col(Handoff.status).desc(), col(Handoff.id).desc())  # "open" > "closed"
        .limit(1)
    )
    return rows.first()


async def open_handoff_in_topic(
    session: AsyncSession, group_chat_id: int, topic_id: int
) -> Handoff | None:
    rows = await session.exec(
        select(Handoff)
        .where(col(Handoff.group_chat_id) == group_chat_id)
        .where(col(Handoff.topic_id) == topic_id)
        .where(col(Handoff.status) == "open")
    )
    return rows.first()


async def latest_handoff(session: AsyncSession, shop_id: str, pseudonym: str) -> Handoff | None:
    rows = await session.exec(
        select(Handoff)
        .where(col(Handoff.shop_id) == shop_id)
        .where(col(Handoff.pseudonym) == pseudonym)
        .order_by(col(Handoff.id).desc())
        .limit(1)
    )
    return rows.first()


async def touch_handoff(
    session: AsyncSession, handoff_id: int, now: datetime | None = None
) -> None:
    """Something was said: the idle clock starts again."""
    await session.exec(
        update(Handoff)
        .where(col(Handoff.id) == handoff_id)
        .values(last_activity_at=now or utc_now())
    )


async def close_handoff(
    session: AsyncSession, handoff_id: int, *, closed_by: ClosedBy, now: datetime | None = None
) -> Handoff | None:
    """Close an open hand-off; None when it was not open (another operator, or the idle
    task, closed it first: only one of them tells the customer)."""
    now = now or utc_now()
    result = await session.exec(
        update(Handoff)
        .where(col(Handoff.id) == handoff_id)
        .where(col(Handoff.status) == "open")
        .values(status="closed", closed_at=now, closed_by=closed_by, last_activity_at=now)
    )
    if result.rowcount != 1:
        return None
    return await session.get(Handoff, handoff_id, populate_existing=True)


async def idle_handoffs(
    session: AsyncSession, *, quiet_since: datetime, limit: int = 100
) -> list[Handoff]:
    """Open hand-offs in which nothing was said since `quiet_since`, oldest first."""
    rows = await session.exec(
        select(Handoff)
        .where(col(Handoff.status) == "open")
        .where(col(Handoff.last_activity_at) < quiet_since)
        .order_by(col(Handoff.last_activity_at))
        .limit(limit)
    )
    return list(rows)


async def rate_handoff(
    session: AsyncSession,
    handoff_id: int,
    pseudonym: str,
    stars: int,
    now: datetime | None = None,
) -> Handoff | None:
    """The customer's rating of a closed hand-off (the last one given counts, until they
    commented); the hand-off, or None and nothing changed for someone else's or an open
    one: the id comes in callback data, which a client can forge."""
    if not 1 <= stars <= 5:
        return None
    result = await session.exec(
        update(Handoff)
        .where(col(Handoff.id) == handoff_id)
        .where(col(Handoff.pseudonym) == pseudonym)
        .where(col(Handoff.status) == "closed")
        .where(col(Handoff.rating_comment).is_(None))
        .values(rating=stars, last_activity_at=now or utc_now())
    )
    if result.rowcount != 1:
        return None
    return await session.get(Handoff, handoff_id, populate_existing=True)


async def comment_on_handoff(
    session: AsyncSession, handoff_id: int, pseudonym: str, comment: str
) -> Handoff | None:
    """The optional comment after the rating ("" records that the customer skipped it);
    the hand-off, or None when it was not theirs or not waiting for a comment."""
    result = await session.exec(
        update(Handoff)
        .where(col(Handoff.id) == handoff_id)
        .where(col(Handoff.pseudonym) == pseudonym)
        .where(col(Handoff.rating).is_not(None))
        .where(col(Handoff.rating_comment).is_(None))
        .values(rating_comment=comment[:CANNED_MAX_CHARS])
    )
    if result.rowcount != 1:
        return None
    return await session.get(Handoff, handoff_id, populate_existing=True)


async def forget_chats_closed_before(session: AsyncSession, before: datetime) -> int:
    """Drop the private chat of hand-offs closed long ago. It is kept after closing so that
    an operator can take the conversation over again, but not for ever."""
    result = await session.exec(
        update(Handoff)
        .where(col(Handoff.status) == "closed")
        .where(col(Handoff.closed_at) < before)
        .where(col(Handoff.chat_id).is_not(None))
        .values(chat_id=None)
    )
    return result.rowcount


async def erase_handoffs(session: AsyncSession, pseudonym: str) -> int:
    """Forget the customer's conversations with people: their hand-offs (with the pairs of
    relayed messages), the calls still queued for them and the customer's topics. The
    messages themselves live in Telegram, in the shop's group. Returns the hand-offs."""
    handoff_ids = select(Handoff.id).where(col(Handoff.pseudonym) == pseudonym)
    await session.exec(
        delete(SupportOutboxItem).where(col(SupportOutboxItem.handoff_id).in_(handoff_ids))
    )
    await session.exec(
        delete(RelayedMessage).where(col(RelayedMessage.handoff_id).in_(handoff_ids))
    )
    result = await session.exec(delete(Handoff).where(col(Handoff.pseudonym) == pseudonym))
    await session.exec(delete(SupportTopic).where(col(SupportTopic.pseudonym) == pseudonym))
    return result.rowcount


# ---- What the card in the topic shows -------------------------------------------------------


async def question_of(
    session: AsyncSession, record_id: int, pseudonym: str
) -> ConversationRecord | None:
    """One of the customer's own answered questions (the id comes in callback data)."""
    record = await session.get(ConversationRecord, record_id)
    return record if record is not None and record.pseudonym == pseudonym else None


async def recent_questions(
    session: AsyncSession, pseudonym: str, shop_id: str, limit: int
) -> list[ConversationRecord]:
    """The customer's last questions to the bot about this shop, oldest first."""
    rows = await session.exec(
        select(ConversationRecord)
        .where(col(ConversationRecord.pseudonym) == pseudonym)
        .where(col(ConversationRecord.shop_id) == shop_id)
        .order_by(col(ConversationRecord.created_at).desc(), col(ConversationRecord.id).desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))


async def open_requests(
    session: AsyncSession, pseudonym: str, shop_id: str
) -> list[PrivacyRequest]:
    """The customer's privacy requests to this shop that are not finished, soonest due first."""
    rows = await session.exec(
        select(PrivacyRequest)
        .where(col(PrivacyRequest.pseudonym) == pseudonym)
        .where(col(PrivacyRequest.shop_id) == shop_id)
        .where(col(PrivacyRequest.status).in_(sorted(OPEN_STATUSES)))
        .order_by(col(PrivacyRequest.due_at), col(PrivacyRequest.created_at))
    )
    return list(rows)


# ---- Relayed messages -----------------------------------------------------------------------


async def record_relay(
    session: AsyncSession,
    handoff_id: int,
    direction: Direction,
    *,
    customer_message_id: int,
    group_message_id: int,
) -> None:
    session.add(
        RelayedMessage(
            handoff_id=handoff_id,
            direction=direction,
            customer_message_id=customer_message_id,
            group_message_id=group_message_id,
        )
    )
    await session.flush()


async def group_side(
    session: AsyncSession,
    handoff_id: int,
    customer_message_id: int,
    direction: Direction | None = None,
) -> int | None:
    """The id in the topic of a message in the customer's chat (its copy, or the operator's
    message it is a copy of)."""
    statement = (
        select(RelayedMessage.group_message_id)
        .where(col(RelayedMessage.handoff_id) == handoff_id)
        .where(col(RelayedMessage.customer_message_id) == customer_message_id)
    )
    if direction is not None:
        statement = statement.where(col(RelayedMessage.direction) == direction)
    return (await session.exec(statement.limit(1))).first()


async def customer_side(
    session: AsyncSession,
    handoff_id: int,
    group_message_id: int,
    direction: Direction | None = None,
) -> int | None:
    """The id in the customer's chat of a message in the topic."""
    statement = (
        select(RelayedMessage.customer_message_id)
        .where(col(RelayedMessage.handoff_id) == handoff_id)
        .where(col(RelayedMessage.group_message_id) == group_message_id)
    )
    if direction is not None:
        statement = statement.where(col(RelayedMessage.direction) == direction)
    return (await session.exec(statement.limit(1))).first()


# ---- The paced queue of calls into support groups -------------------------------------------


async def enqueue_group_call(
    session: AsyncSession,
    *,
    group_chat_id: int,
    method: str,
    payload: dict[str, Any],
    handoff_id: int | None = None,
    now: datetime | None = None,
) -> SupportOutboxItem:
    """Queue one Bot API call into a support group; `payload["params"]` are its parameters,
    the other keys what the sender needs to know besides (see `bot.handoff.sender`)."""
    now = now or utc_now()
    item = SupportOutboxItem(
        group_chat_id=group_chat_id,
        handoff_id=handoff_id,
        method=method,
        payload=payload,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(item)
    await session.flush()
    return item


async def queue_heads(session: AsyncSession) -> list[SupportOutboxItem]:
    """The oldest queued call of each group. Only a group's head is ever sent, so the
    messages of a topic arrive in the order they were queued, across processes too."""
    oldest = (
        select(func.min(SupportOutboxItem.id))
        .group_by(col(SupportOutboxItem.group_chat_id))
        .scalar_subquery()
    )
    rows = await session.exec(
        select(SupportOutboxItem)
        .where(col(SupportOutboxItem.id).in_(oldest))
        .order_by(col(SupportOutboxItem.id))
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def claim_item(
    session: AsyncSession, item: SupportOutboxItem, *, now: datetime, lease_until: datetime
) -> bool:
    """Take `item` for sending until `lease_until`. The attempt counter is the token: of two
    processes that read the same head, only one moves it on. A process that dies holding
    the lease leaves the item to be sent again after it."""
    seen = item.attempts
    result = await session.exec(
        update(SupportOutboxItem)
        .where(col(SupportOutboxItem.id) == item.id)
        .where(col(SupportOutboxItem.attempts) == seen)
        .where(col(SupportOutboxItem.next_attempt_at) <= now)
        .values(next_attempt_at=lease_until, attempts=seen + 1)
    )
    if result.rowcount != 1:
        return False
    # Set, not incremented: a row loaded in this session was already updated in place.
    item.attempts = seen + 1
    item.next_attempt_at = lease_until
    return True


async def item_sent(session: AsyncSession, item_id: int) -> None:
    await session.exec(delete(SupportOutboxItem).where(col(SupportOutboxItem.id) == item_id))


async def retry_item(session: AsyncSession, item_id: int, at: datetime) -> None:
    await session.exec(
        update(SupportOutboxItem)
        .where(col(SupportOutboxItem.id) == item_id)
        .values(next_attempt_at=at)
    )


async def queued_calls(
    session: AsyncSession, group_chat_id: int | None = None
) -> list[SupportOutboxItem]:
    statement = select(SupportOutboxItem).order_by(col(SupportOutboxItem.id))
    if group_chat_id is not None:
        statement = statement.where(col(SupportOutboxItem.group_chat_id) == group_chat_id)
    return list(await session.exec(statement))


# ---- Canned replies -------------------------------------------------------------------------


def check_canned(key: str, language: str, text: str | None = None) -> None:
    """ValueError naming what is wrong with a canned reply's key, language or text."""
    if not CANNED_KEY.fullmatch(key):
        raise ValueError("key: 1-32 of a-z, 0-9, _ and -, starting with a letter or digit")
    if language and not re.fullmatch(r"[a-z]{2}", language):
        raise ValueError("language: a two-letter code")
    if text is not None and not 0 < len(text.strip()) <= CANNED_MAX_CHARS:
        raise ValueError(f"text: 1-{CANNED_MAX_CHARS} characters")


async def save_canned_reply(
    session: AsyncSession,
    shop_id: str,
    key: str,
    text: str,
    language: str = "",
    now: datetime | None = None,
) -> None:
    """Add or replace a canned reply; `language` "" is its default version."""
    check_canned(key, language, text)
    statement = insert_for(session, CannedReply)
    # One statement: two operators saving the same key at once must not fail.
    await session.exec(
        statement.values(
            shop_id=shop_id, key=key, language=language, text=text, created_at=now or utc_now()
        ).on_conflict_do_update(index_elements=["shop_id", "key", "language"], set_={"text": text})
    )


async def canned_reply_for(
    session: AsyncSession, shop_id: str, key: str, language: str
) -> CannedReply | None:
    """The reply in `language` when it has that translation, else its default version."""
    rows = await session.exec(
        select(CannedReply)
        .where(col(CannedReply.shop_id) == shop_id)
        .where(col(CannedReply.key) == key)
        .where(col(CannedReply.language).in_([language, ""]))
    )
    found = {reply.language: reply for reply in rows}
    return found.get(language) or found.get("")


async def canned_replies(session: AsyncSession, shop_id: str) -> Sequence[CannedReply]:
    rows = await session.exec(
        select(CannedReply)
        .where(col(CannedReply.shop_id) == shop_id)
        .order_by(col(CannedReply.key), col(CannedReply.language))
    )
    return list(rows)


async def delete_canned_reply(
    session: AsyncSession, shop_id: str, key: str, language: str | None = None
) -> int:
    """Delete one translation (`language`), the default version (""), or, with None, the
    key in every language; returns how many versions went."""
    statement = (
        delete(CannedReply)
        .where(col(CannedReply.shop_id) == shop_id)
        .where(col(CannedReply.key) == key)
    )
    if language is not None:
        statement = statement.where(col(CannedReply.language) == language)
    result = await session.exec(statement)
    return result.rowcount
