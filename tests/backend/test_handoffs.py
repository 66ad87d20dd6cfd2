"""The hand-off's rows on SQLite and PostgreSQL: one topic and one open hand-off per
customer however many ask at once, the event in the same transaction, closing once, the
rating and its comment, relayed pairs, the paced group queue claimed by one sender only,
and canned replies with their translations."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.conversation_log import record_question
from backend.database import Database
from backend.handoffs import (
    Trigger,
    canned_replies,
    canned_reply_for,
    check_canned,
    claim_item,
    claim_topic,
    close_handoff,
    comment_on_handoff,
    customer_side,
    delete_canned_reply,
    enqueue_group_call,
    erase_handoffs,
    forget_chats_closed_before,
    group_side,
    handoff_with_person,
    idle_handoffs,
    item_sent,
    latest_handoff,
    move_topic,
    open_handoff,
    open_handoff_in_topic,
    open_handoff_of,
    open_requests,
    question_of,
    queue_heads,
    queued_calls,
    rate_handoff,
    recent_questions,
    record_relay,
    retry_item,
    save_canned_reply,
    topic_at,
    topic_of,
)
from backend.models import Handoff, OutboxEvent, PrivacyRequest, WebhookDelivery
from backend.webhooks.endpoints import create_endpoint

SHOP = "webstore"
ANN, BOB = "p-ann", "p-bob"
GROUP, OTHER_GROUP = -1001234, -1005678
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


async def topic_for(db: Database, pseudonym: str = ANN, topic_id: int = 7) -> None:
    async with db.session() as session:
        await claim_topic(session, SHOP, pseudonym, group_chat_id=GROUP, topic_id=topic_id)


async def open_in(
    session: AsyncSession,
    pseudonym: str = ANN,
    *,
    now: datetime = T0,
    topic_id: int = 7,
    trigger: Trigger = "customer",
) -> tuple[Handoff, bool]:
    return await open_handoff(
        session,
        shop_id=SHOP,
        pseudonym=pseudonym,
        chat_id=1001,
        language="cs",
        trigger=trigger,
        group_chat_id=GROUP,
        topic_id=topic_id,
        now=now,
    )


async def opened(
    db: Database, pseudonym: str = ANN, *, now: datetime = T0, topic_id: int = 7
) -> tuple[Handoff, bool]:
    async with db.session() as session:
        return await open_in(session, pseudonym, now=now, topic_id=topic_id)


async def test_the_topic_key_lets_only_one_of_two_creators_win(db: Database) -> None:
    await topic_for(db, topic_id=7)
    with pytest.raises(IntegrityError):
        await topic_for(db, topic_id=8)
    async with db.session() as session:
        topic = await topic_of(session, SHOP, ANN)
        assert topic is not None and topic.topic_id == 7
        assert await topic_at(session, GROUP, 7) is not None
        assert await topic_at(session, GROUP, 8) is None
        assert await topic_at(session, OTHER_GROUP, 7) is None


async def test_one_open_handoff_per_customer_with_its_thin_event(db: Database) -> None:
    async with db.session() as session:
        await create_endpoint(
            session, SHOP, "https://127.0.0.1:9/hooks", allow_private_targets=True
        )
    await topic_for(db)
    results = await asyncio.gather(opened(db), opened(db), opened(db))
    assert sorted(created for _, created in results) == [False, False, True]
    assert len({handoff.id for handoff, _ in results}) == 1
    handoff = results[0][0]
    async with db.session() as session:
        events = list(await session.exec(select(OutboxEvent)))
        deliveries = list(await session.exec(select(WebhookDelivery)))
        assert await open_handoff_of(session, ANN) is not None
        assert (await open_handoff_in_topic(session, GROUP, 7)) is not None
        assert await open_handoff_in_topic(session, GROUP, 8) is None
    [event] = events
    assert event.type == "conversation.handoff_requested"
    assert event.payload == {
        "handoff_id": handoff.id,
        "shop": SHOP,
        "language": "cs",
        "trigger": "customer",
    }
    assert len(deliveries) == 1


async def test_a_failed_opening_leaves_neither_handoff_nor_event(db: Database) -> None:
    await topic_for(db)
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            await open_in(session, trigger="bot")
            raise RuntimeError("the card could not be queued")
    async with db.session() as session:
        assert list(await session.exec(select(Handoff))) == []
        assert list(await session.exec(select(OutboxEvent))) == []


async def test_closing_happens_once_and_idle_ones_are_found(db: Database) -> None:
    await topic_for(db)
    await topic_for(db, BOB, topic_id=9)
    ann, _ = await opened(db, now=T0)
    bob, _ = await opened(db, BOB, now=T0 + timedelta(minutes=50), topic_id=9)
    assert ann.id is not None and bob.id is not None
    async with db.session() as session:
        idle = await idle_handoffs(session, quiet_since=T0 + timedelta(minutes=30))
        assert [h.id for h in idle] == [ann.id]
        closed = await close_handoff(session, ann.id, closed_by="idle", now=T0)
        assert closed is not None and (closed.status, closed.closed_by) == ("closed", "idle")
        assert await close_handoff(session, ann.id, closed_by="operator") is None
        latest = await latest_handoff(session, SHOP, ANN)
        assert latest is not None and latest.id == ann.id
    # A new hand-off of Ann opens after the old one closed.
    again, created = await opened(db, now=T0 + timedelta(hours=1))
    assert created and again.id != ann.id


async def test_rating_then_comment_or_skip(db: Database) -> None:
    await topic_for(db)
    handoff, _ = await opened(db)
    assert handoff.id is not None
    async with db.session() as session:
        assert await rate_handoff(session, handoff.id, ANN, 4) is None  # still open
        await close_handoff(session, handoff.id, closed_by="operator", now=T0)
        assert await rate_handoff(session, handoff.id, BOB, 4) is None  # not Bob's
        assert await rate_handoff(session, handoff.id, ANN, 6) is None
        rated = await rate_handoff(session, handoff.id, ANN, 4, now=T0 + timedelta(minutes=1))
        assert rated is not None and rated.rating == 4
        waiting = await handoff_with_person(session, ANN, comment_since=T0)
        assert waiting is not None and waiting.id == handoff.id
        assert (
            await handoff_with_person(session, ANN, comment_since=T0 + timedelta(hours=1)) is None
        )
        commented = await comment_on_handoff(session, handoff.id, ANN, "quick and kind")
        assert commented is not None and commented.rating_comment == "quick and kind"
        assert await comment_on_handoff(session, handoff.id, ANN, "again") is None
        assert await rate_handoff(session, handoff.id, ANN, 1) is None  # settled
        assert await handoff_with_person(session, ANN, comment_since=T0) is None


async def test_an_open_handoff_wins_over_one_awaiting_its_comment(db: Database) -> None:
    await topic_for(db)
    first, _ = await opened(db)
    assert first.id is not None
    async with db.session() as session:
        await close_handoff(session, first.id, closed_by="operator", now=T0)
        await rate_handoff(session, first.id, ANN, 5, now=T0)
    second, _ = await opened(db, now=T0 + timedelta(minutes=1))
    async with db.session() as session:
        found = await handoff_with_person(session, ANN, comment_since=T0 - timedelta(minutes=5))
    assert found is not None and found.id == second.id and found.status == "open"


async def test_relayed_pairs_are_found_from_either_side(db: Database) -> None:
    await topic_for(db)
    handoff, _ = await opened(db)
    assert handoff.id is not None
    async with db.session() as session:
        await record_relay(
            session, handoff.id, "to_group", customer_message_id=10, group_message_id=500
        )
        await record_relay(
            session, handoff.id, "to_customer", customer_message_id=11, group_message_id=501
        )
    async with db.session() as session:
        assert await group_side(session, handoff.id, 10) == 500
        assert await group_side(session, handoff.id, 10, "to_group") == 500
        assert await group_side(session, handoff.id, 11, "to_group") is None
        assert await customer_side(session, handoff.id, 501) == 11
        assert await customer_side(session, handoff.id, 501, "to_customer") == 11
        assert await customer_side(session, handoff.id, 500, "to_customer") is None
        assert await customer_side(session, handoff.id + 1, 501) is None


async def test_moving_a_topic_moves_its_handoff_and_queued_calls(db: Database) -> None:
    await topic_for(db)
    handoff, _ = await opened(db)
    async with db.session() as session:
        for text in ("one", "two"):
            await enqueue_group_call(
                session,
                group_chat_id=GROUP,
                method="sendMessage",
                payload={"params": {"chat_id": GROUP, "message_thread_id": 7, "text": text}},
                handoff_id=handoff.id,
            )
        await enqueue_group_call(
            session,
            group_chat_id=GROUP,
            method="sendMessage",
            payload={"params": {"chat_id": GROUP, "text": "general topic"}},
        )
    async with db.session() as session:
        topic = await topic_of(session, SHOP, ANN)
        assert topic is not None
        assert await move_topic(session, topic, group_chat_id=GROUP, topic_id=70)
        stale = await topic_of(session, SHOP, ANN)
    async with db.session() as session:
        assert stale is not None
        stale.topic_id = 7  # what a second process still believes
        assert not await move_topic(session, stale, group_chat_id=GROUP, topic_id=71)
    async with db.session() as session:
        moved = await open_handoff_of(session, ANN)
        calls = await queued_calls(session, GROUP)
    assert moved is not None and moved.topic_id == 70
    threads = [call.payload["params"].get("message_thread_id") for call in calls]
    assert threads == [70, 70, None]


async def test_the_queue_sends_the_oldest_call_of_each_group_once(db: Database) -> None:
    async with db.session() as session:
        for group, text in ((GROUP, "a1"), (OTHER_GROUP, "b1"), (GROUP, "a2")):
            await enqueue_group_call(
                session,
                group_chat_id=group,
                method="sendMessage",
                payload={"params": {"chat_id": group, "text": text}},
                now=T0,
            )
    async with db.session() as session:
        heads = await queue_heads(session)
    assert [h.payload["params"]["text"] for h in heads] == ["a1", "b1"]
    first = heads[0]
    assert first.id is not None
    lease = T0 + timedelta(seconds=60)
    async with db.session() as session:
        assert not await claim_item(
            session, first, now=T0 - timedelta(seconds=1), lease_until=lease
        )
    # Two senders read the same head; only one of them takes it.
    async with db.session() as session:
        twin = (await queue_heads(session))[0]
    async with db.session() as session:
        assert await claim_item(session, first, now=T0, lease_until=lease)
    async with db.session() as session:
        assert not await claim_item(session, twin, now=T0, lease_until=lease)
    async with db.session() as session:
        # The lease ran out (its holder died): the call goes again.
        [head, _] = await queue_heads(session)
        assert head.id == first.id and head.next_attempt_at == lease and head.attempts == 1
        assert not await claim_item(session, head, now=T0, lease_until=lease)
        assert await claim_item(session, head, now=lease, lease_until=lease + timedelta(seconds=60))
        await retry_item(session, first.id, T0 + timedelta(minutes=5))
    async with db.session() as session:
        [head, _] = await queue_heads(session)
        assert head.next_attempt_at == T0 + timedelta(minutes=5) and head.attempts == 2
        await item_sent(session, first.id)
    async with db.session() as session:
        heads = await queue_heads(session)
    assert [h.payload["params"]["text"] for h in heads] == ["b1", "a2"]


async def test_canned_replies_with_translations(db: Database) -> None:
    async with db.session() as session:
        await save_canned_reply(session, SHOP, "hello", "Hello, how can I help?")
        await save_canned_reply(session, SHOP, "hello", "Dobrý den, jak pomohu?", "cs")
        await save_canned_reply(session, SHOP, "bye", "Bye!")
        await save_canned_reply(session, "klingit", "hello", "Hej!")
    async with db.session() as session:  # replacing keeps one row
        await save_canned_reply(session, SHOP, "bye", "Goodbye!")
    async with db.session() as session:
        czech = await canned_reply_for(session, SHOP, "hello", "cs")
        german = await canned_reply_for(session, SHOP, "hello", "de")
        bye = await canned_reply_for(session, SHOP, "bye", "cs")
        assert czech is not None and czech.text == "Dobrý den, jak pomohu?"
        assert german is not None and german.text == "Hello, how can I help?"
        assert bye is not None and bye.text == "Goodbye!"
        assert await canned_reply_for(session, SHOP, "nope", "en") is None
        listed = [(r.key, r.language) for r in await canned_replies(session, SHOP)]
        assert listed == [("bye", ""), ("hello", ""), ("hello", "cs")]
        assert await delete_canned_reply(session, SHOP, "hello", "cs") == 1
        assert await delete_canned_reply(session, SHOP, "hello", "cs") == 0
        assert await delete_canned_reply(session, SHOP, "bye") == 1
        assert [(r.key, r.language) for r in await canned_replies(session, SHOP)] == [("hello", "")]
        assert len(await canned_replies(session, "klingit")) == 1


@pytest.mark.parametrize(
    ("key", "language", "text"),
    [("Hello!", "", "x"), ("", "", "x"), ("k" * 33, "", "x"), ("ok", "ces", "x"), ("ok", "", " ")],
)
def test_bad_canned_replies_are_refused(key: str, language: str, text: str) -> None:
    with pytest.raises(ValueError):
        check_canned(key, language, text)


async def asked(
    session: AsyncSession, pseudonym: str, question: str, at: datetime | None = None
) -> int:
    return await record_question(
        session,
        pseudonym=pseudonym,
        shop_id=SHOP,
        question=question,
        language="en",
        intent="question",
        passage_key=None,
        section=None,
        confidence=0.3,
        answered=False,
        index_version=1,
        asked_at=at,
    )


async def test_what_the_card_reads(db: Database) -> None:
    async with db.session() as session:
        for minute, question in enumerate(["first?", "second?", "third?"]):
            await asked(session, ANN, question, at=T0 + timedelta(minutes=minute))
        other = await asked(session, BOB, "bob's")
        for request_id, status, due in (
            ("req_open", "verified", T0 + timedelta(days=30)),
            ("req_done", "completed", T0),
            ("req_pending", "identity_pending", None),
        ):
            session.add(
                PrivacyRequest(
                    id=request_id,
                    shop_id=SHOP,
                    kind="access",
                    status=status,
                    pseudonym=ANN,
                    email_hash="0" * 64,
                    due_at=due,
                )
            )
    async with db.session() as session:
        questions = await recent_questions(session, ANN, SHOP, 2)
        assert [r.question for r in questions] == ["second?", "third?"]
        requests = await open_requests(session, ANN, SHOP)
        assert sorted(r.id for r in requests) == ["req_open", "req_pending"]
        assert await question_of(session, other, ANN) is None
        assert await question_of(session, other, BOB) is not None


async def test_the_chat_of_an_old_closed_handoff_is_forgotten(db: Database) -> None:
    await topic_for(db)
    handoff, _ = await opened(db)
    assert handoff.id is not None
    async with db.session() as session:
        await close_handoff(session, handoff.id, closed_by="operator", now=T0)
        assert await forget_chats_closed_before(session, T0) == 0
        assert await forget_chats_closed_before(session, T0 + timedelta(days=31)) == 1
        rows = await session.exec(select(Handoff).where(col(Handoff.id) == handoff.id))
        assert rows.one().chat_id is None


async def test_erasing_a_customer_forgets_their_handoffs_only(db: Database) -> None:
    await topic_for(db)
    await topic_for(db, BOB, topic_id=9)
    ann, _ = await opened(db)
    bob, _ = await opened(db, BOB, topic_id=9)
    async with db.session() as session:
        for handoff in (ann, bob):
            assert handoff.id is not None
            await record_relay(
                session, handoff.id, "to_group", customer_message_id=1, group_message_id=2
            )
            await enqueue_group_call(
                session,
                group_chat_id=GROUP,
                method="sendMessage",
                payload={"params": {"chat_id": GROUP, "text": "card"}},
                handoff_id=handoff.id,
            )
    async with db.session() as session:
        assert await erase_handoffs(session, ANN) == 1
    async with db.session() as session:
        assert await open_handoff_of(session, ANN) is None
        assert await topic_of(session, SHOP, ANN) is None
        assert [c.handoff_id for c in await queued_calls(session)] == [bob.id]
        assert bob.id is not None and await group_side(session, bob.id, 1) == 2
        assert await topic_of(session, SHOP, BOB) is not None
