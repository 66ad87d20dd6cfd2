"""The conversation log: what is kept, for how long, and who may touch it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from backend.conversation_log import (
    feedback_summary,
    purge_expired,
    record_question,
    set_feedback,
    stored_about,
)
from backend.customers import bind_shop, set_language
from backend.database import Database
from backend.models import ConversationRecord
from backend.pseudonyms import pseudonym_for

KEY = b"k" * 32
ALICE = pseudonym_for(2001, KEY)
BOB = pseudonym_for(2002, KEY)
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


async def ask(
    db: Database,
    pseudonym: str = ALICE,
    *,
    question: str = "Do you sell my data?",
    shop_id: str = "webstore",
    answered: bool = True,
    asked_at: datetime | None = None,
) -> int:
    async with db.session() as session:
        return await record_question(
            session,
            pseudonym=pseudonym,
            shop_id=shop_id,
            question=question,
            language="en",
            intent="question",
            passage_key="0123456789abcdef" if answered else None,
            section="Sharing" if answered else None,
            confidence=0.81 if answered else 0.2,
            answered=answered,
            index_version=4,
            asked_at=asked_at,
        )


async def record(db: Database, record_id: int) -> ConversationRecord:
    async with db.session() as session:
        found = await session.get(ConversationRecord, record_id)
    assert found is not None
    return found


async def test_a_question_is_recorded_as_asked_and_cut_to_1000_characters(
    db: Database,
) -> None:
    record_id = await ask(db, question="x" * 5000)
    stored = await record(db, record_id)
    assert stored.question == "x" * 1000
    assert (stored.pseudonym, stored.shop_id, stored.passage_key) == (
        ALICE,
        "webstore",
        "0123456789abcdef",
    )
    assert (stored.section, stored.confidence, stored.answered) == ("Sharing", 0.81, True)
    assert (stored.index_version, stored.feedback, stored.feedback_at) == (4, None, None)
    assert stored.created_at.tzinfo == UTC
    assert abs(datetime.now(UTC) - stored.created_at) < timedelta(minutes=1)


async def test_feedback_from_the_asker_is_stored_and_can_change(db: Database) -> None:
    record_id = await ask(db)
    async with db.session() as session:
        assert await set_feedback(session, record_id, ALICE, helpful=False)
    async with db.session() as session:
        assert await set_feedback(session, record_id, ALICE, helpful=True)
    stored = await record(db, record_id)
    assert stored.feedback == "helpful"
    assert stored.feedback_at is not None and stored.feedback_at.tzinfo == UTC


async def test_forged_feedback_changes_nothing(db: Database) -> None:
    record_id = await ask(db)
    async with db.session() as session:
        assert not await set_feedback(session, record_id, BOB, helpful=False)
        assert not await set_feedback(session, record_id + 1000, ALICE, helpful=False)
    stored = await record(db, record_id)
    assert (stored.feedback, stored.feedback_at) == (None, None)


async def test_purge_removes_only_expired_records(db: Database) -> None:
    expired = await ask(db, asked_at=NOW - timedelta(days=30, seconds=1))
    kept = await ask(db, asked_at=NOW - timedelta(days=29, hours=23))
    recent = await ask(db, BOB, asked_at=NOW - timedelta(minutes=5))
    async with db.session() as session:
        assert await purge_expired(session, NOW, retention_days=30) == 1
    async with db.session() as session:
        remaining = set((await session.exec(select(ConversationRecord.id))).all())
        assert remaining == {kept, recent}
        assert expired not in remaining
        assert await purge_expired(session, NOW, retention_days=30) == 0


async def test_purge_refuses_a_retention_below_one_day(db: Database) -> None:
    async with db.session() as session:
        with pytest.raises(ValueError, match="retention_days"):
            await purge_expired(session, NOW, retention_days=0)


async def test_stored_about_a_customer(db: Database) -> None:
    async with db.session() as session:
        empty = await stored_about(session, ALICE)
    assert (empty.conversation_records, empty.feedback_given, empty.oldest_record_at) == (
        0,
        0,
        None,
    )
    assert (empty.shop_id, empty.language) == (None, None)

    async with db.session() as session:
        await bind_shop(session, ALICE, "webstore")
        await set_language(session, ALICE, "uk")
    first = await ask(db, asked_at=NOW - timedelta(days=3))
    await ask(db, asked_at=NOW - timedelta(days=1))
    await ask(db, BOB, asked_at=NOW - timedelta(days=9))
    async with db.session() as session:
        await set_feedback(session, first, ALICE, helpful=True)
        about = await stored_about(session, ALICE)
    assert (about.conversation_records, about.feedback_given) == (2, 1)
    assert about.oldest_record_at == NOW - timedelta(days=3)
    assert about.oldest_record_at.tzinfo == UTC
    assert (about.shop_id, about.language) == ("webstore", "uk")


async def test_feedback_summary_of_a_shop_since_a_date(db: Database) -> None:
    helpful = await ask(db, asked_at=NOW - timedelta(days=1))
    not_helpful = await ask(db, BOB, asked_at=NOW - timedelta(hours=2))
    await ask(db, answered=False, asked_at=NOW - timedelta(hours=1))
    await ask(db, answered=True, asked_at=NOW - timedelta(days=10))  # before `since`
    await ask(db, shop_id="klingit", asked_at=NOW - timedelta(hours=1))  # another shop
    async with db.session() as session:
        await set_feedback(session, helpful, ALICE, helpful=True)
        await set_feedback(session, not_helpful, BOB, helpful=False)
        summary = await feedback_summary(session, "webstore", NOW - timedelta(days=7))
    assert summary == {
        "questions": 3,
        "answered": 2,
        "below_threshold": 1,
        "helpful": 1,
        "not_helpful": 1,
    }
    async with db.session() as session:
        nothing = await feedback_summary(session, "nowhere", NOW - timedelta(days=7))
    assert set(nothing.values()) == {0}


async def test_a_failed_unit_of_work_leaves_nothing_behind(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            await bind_shop(session, ALICE, "webstore")
            await record_question(
                session,
                pseudonym=ALICE,
                shop_id="webstore",
                question="?",
                language="en",
                intent="question",
                passage_key=None,
                section=None,
                confidence=0.1,
                answered=False,
                index_version=None,
            )
            raise RuntimeError("the answer could not be sent")
    async with db.session() as session:
        about = await stored_about(session, ALICE)
    assert (about.conversation_records, about.shop_id) == (0, None)
