"""The conversation log: which questions were asked, how they were answered, and the
customers' verdicts; kept for the retention period and erasable by the customer.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import (
    QUESTION_MAX_CHARS,
    ConversationRecord,
    CustomerProfile,
    utc_now,
)


@dataclass(frozen=True)
class StoredData:
    """What the backend holds about one customer, as the /privacy command shows it."""

    conversation_records: int
    feedback_given: int
    oldest_record_at: datetime | None
    shop_id: str | None
    language: str | None


class FeedbackSummary(TypedDict):
    questions: int
    answered: int
    below_threshold: int
    helpful: int
    not_helpful: int


async def record_question(
    session: AsyncSession,
    *,
    pseudonym: str,
    shop_id: str,
    question: str,
    language: str,
    intent: str,
    passage_key: str | None,
    section: str | None,
    confidence: float,
    answered: bool,
    index_version: int | None,
    asked_at: datetime | None = None,
) -> int:
    """Log one question and how it was answered; returns the record's id (for feedback)."""
    record = ConversationRecord(
        pseudonym=pseudonym,
        shop_id=shop_id,
        question=question[:QUESTION_MAX_CHARS],
        language=language,
        intent=intent,
        passage_key=passage_key,
        section=section,
        confidence=confidence,
        answered=answered,
        index_version=index_version,
        created_at=asked_at or utc_now(),
    )
    session.add(record)
    await session.flush()
    assert record.id is not None  # assigned by the flush
    return record.id


async def set_feedback(
    session: AsyncSession, record_id: int, pseudonym: str, helpful: bool
) -> bool:
    """Store the customer's verdict on an answer; the last one given counts.

    False, and nothing changed, when the record is unknown or another customer's: the
    ids travel in callback data, which a client can forge.
    """
    result = await session.exec(
        update(ConversationRecord)
        .where(col(ConversationRecord.id) == record_id)
        .where(col(ConversationRecord.pseudonym) == pseudonym)
        .values(feedback="helpful" if helpful else "not_helpful", feedback_at=utc_now())
    )
    return result.rowcount == 1


async def purge_expired(session: AsyncSession, now: datetime, retention_days: int) -> int:
    """Delete the records older than `retention_days` before `now`; returns how many."""
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    _require_aware(now)
    cutoff = now - timedelta(days=retention_days)
    result = await session.exec(
        delete(ConversationRecord).where(col(ConversationRecord.created_at) < cutoff)
    )
    return result.rowcount


async def erase_conversations(session: AsyncSession, pseudonym: str) -> tuple[int, int]:
    """Delete every record of `pseudonym`; returns (records, of which with feedback)."""
    with_feedback = await session.scalar(
        select(func.count())
        .select_from(ConversationRecord)
        .where(col(ConversationRecord.pseudonym) == pseudonym)
        .where(col(ConversationRecord.feedback).is_not(None))
    )
    result = await session.exec(
        delete(ConversationRecord).where(col(ConversationRecord.pseudonym) == pseudonym)
    )
    return result.rowcount, with_feedback or 0


async def stored_about(session: AsyncSession, pseudonym: str) -> StoredData:
    """What is kept about `pseudonym`: counts and dates, never the questions themselves."""
    row = (
        await session.exec(
            select(
                func.count(),
                func.count(col(ConversationRecord.feedback)),
                func.min(col(ConversationRecord.created_at)),
            ).where(col(ConversationRecord.pseudonym) == pseudonym)
        )
    ).one()
    profile = await session.get(CustomerProfile, pseudonym)
    return StoredData(
        conversation_records=row[0],
        feedback_given=row[1],
        oldest_record_at=row[2],
        shop_id=profile.shop_id if profile else None,
        language=profile.language if profile else None,
    )


async def feedback_summary(session: AsyncSession, shop_id: str, since: datetime) -> FeedbackSummary:
    """How a shop's questions since `since` went: answered, or below the confidence
    threshold, and what the customers said about the answers."""
    _require_aware(since)
    answered = col(ConversationRecord.answered)
    feedback = col(ConversationRecord.feedback)
    rows = await session.exec(
        select(answered, feedback, func.count())
        .where(col(ConversationRecord.shop_id) == shop_id)
        .where(col(ConversationRecord.created_at) >= since)
        .group_by(answered, feedback)
    )
    summary = FeedbackSummary(questions=0, answered=0, below_threshold=0, helpful=0, not_helpful=0)
    for was_answered, verdict, count in rows:
        summary["questions"] += count
        summary["answered" if was_answered else "below_threshold"] += count
        if verdict == "helpful":
            summary["helpful"] += count
        elif verdict == "not_helpful":
            summary["not_helpful"] += count
    return summary


def _require_aware(moment: datetime) -> None:
    # A naive time would be compared as if it were UTC, silently off by the local offset.
    if moment.tzinfo is None:
        raise ValueError("a naive datetime is ambiguous here; pass a timezone-aware one")
