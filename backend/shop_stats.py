"""How a shop's assistant is doing, for its admins (`/stats`, `/unanswered`): questions
and the customers' verdicts, hand-offs and their ratings, privacy requests and the
overdue ones; and the questions the policy did not answer well, to see what it lacks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.conversation_log import FeedbackSummary, feedback_summary
from backend.models import DEADLINE_RUNS_IN, ConversationRecord, Handoff, PrivacyRequest, utc_now


@dataclass(frozen=True)
class ShopStats:
    since: datetime
    questions: FeedbackSummary
    handoffs: int = 0
    handoffs_open: int = 0
    rating_average: float | None = None
    ratings: int = 0
    requests: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> status -> n
    overdue: int = 0  # open requests past their deadline now, whenever they were made

    @property
    def below_threshold_share(self) -> float:
        asked = self.questions["questions"]
        return self.questions["below_threshold"] / asked if asked else 0.0


async def shop_stats(
    session: AsyncSession, shop_id: str, since: datetime, now: datetime | None = None
) -> ShopStats:
    now = now or utc_now()
    questions = await feedback_summary(session, shop_id, since)
    handoff = (
        await session.exec(
            select(
                func.count(),
                func.count().filter(col(Handoff.status) == "open"),
                func.avg(col(Handoff.rating)),
                func.count(col(Handoff.rating)),
            )
            .where(col(Handoff.shop_id) == shop_id)
            .where(col(Handoff.opened_at) >= since)
        )
    ).one()
    requests: dict[str, dict[str, int]] = {}
    rows = await session.exec(
        select(col(PrivacyRequest.kind), col(PrivacyRequest.status), func.count())
        .where(col(PrivacyRequest.shop_id) == shop_id)
        .where(col(PrivacyRequest.created_at) >= since)
        .group_by(col(PrivacyRequest.kind), col(PrivacyRequest.status))
    )
    for kind, status, count in rows:
        requests.setdefault(kind, {})[status] = count
    overdue = await session.scalar(
        select(func.count())
        .select_from(PrivacyRequest)
        .where(col(PrivacyRequest.shop_id) == shop_id)
        .where(col(PrivacyRequest.status).in_(DEADLINE_RUNS_IN))
        .where(PrivacyRequest.deadline_column() < now)
    )
    return ShopStats(
        since=since,
        questions=questions,
        handoffs=handoff[0],
        handoffs_open=handoff[1],
        rating_average=float(handoff[2]) if handoff[2] is not None else None,
        ratings=handoff[3],
        requests=requests,
        overdue=overdue or 0,
    )


async def poorly_answered(
    session: AsyncSession, shop_id: str, since: datetime, limit: int = 500
) -> list[str]:
    """The newest questions since `since` that fell below the confidence threshold or
    that the customer found not helpful."""
    rows = await session.exec(
        select(col(ConversationRecord.question))
        .where(col(ConversationRecord.shop_id) == shop_id)
        .where(col(ConversationRecord.created_at) >= since)
        .where(
            or_(
                col(ConversationRecord.answered).is_(False),
                col(ConversationRecord.feedback) == "not_helpful",
            )
        )
        .order_by(col(ConversationRecord.created_at).desc())
        .limit(limit)
    )
    return list(rows)
