"""Reminders to the shop about deadlines: a `due_soon` event shortly before a request's
deadline and an `overdue` event once it has passed, each once per deadline.

The shop's backend hears them as webhooks (through the outbox, in the transaction that
marks the request as reminded), so a reminder is neither lost nor sent twice. Only
requests somebody works on count: a paused request waits for the customer, and its
deadline moves when the clock starts again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from sqlalchemy import ColumnElement, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import DEADLINE_RUNS_IN, PrivacyRequest
from backend.privacy_requests.lifecycle import notify_shop, record_event
from backend.privacy_requests.settings import RequestRules
from backend.webhooks import events as webhook_events

Reminder = Literal["due_soon", "overdue"]
_EVENT_TYPE: Final[dict[Reminder, str]] = {
    "due_soon": webhook_events.REQUEST_DUE_SOON,
    "overdue": webhook_events.REQUEST_OVERDUE,
}
_NOTIFIED_AT: Final = {
    "due_soon": col(PrivacyRequest.due_soon_notified_at),
    "overdue": col(PrivacyRequest.overdue_notified_at),
}


async def send_reminders(
    session: AsyncSession, *, rules: RequestRules, now: datetime
) -> tuple[int, int]:
    """Tell the shops of the requests due within `rules.due_soon_before` and of those
    overdue, each once per deadline; returns how many (due soon, overdue)."""
    await _forget_reminders_of_moved_deadlines(session, rules=rules, now=now)
    horizon = now + rules.due_soon_before
    due_soon = await _remind(
        session,
        "due_soon",
        # extended_until is never before due_at: the condition on the indexed due_at only
        # narrows the search, the deadline itself decides.
        [
            col(PrivacyRequest.due_at) <= horizon,
            PrivacyRequest.deadline_column() <= horizon,
            PrivacyRequest.deadline_column() >= now,
        ],
        now=now,
    )
    overdue = await _remind(
        session,
        "overdue",
        [col(PrivacyRequest.due_at) < now, PrivacyRequest.deadline_column() < now],
        now=now,
    )
    return due_soon, overdue


async def _forget_reminders_of_moved_deadlines(
    session: AsyncSession, *, rules: RequestRules, now: datetime
) -> None:
    """An extension (or the end of a pause) moves the deadline; once it is far enough
    away again, the new deadline gets reminders of its own."""
    for column, still_far_after in (
        (_NOTIFIED_AT["due_soon"], now + rules.due_soon_before),
        (_NOTIFIED_AT["overdue"], now),
    ):
        await session.exec(
            update(PrivacyRequest)
            .where(col(PrivacyRequest.status).in_(DEADLINE_RUNS_IN))
            .where(column.is_not(None))
            .where(PrivacyRequest.deadline_column() > still_far_after)
            .values({column: None})
            # "fetch": a caller's session that holds one of these requests sees the change.
            .execution_options(synchronize_session="fetch")
        )


async def _remind(
    session: AsyncSession,
    reminder: Reminder,
    conditions: list[ColumnElement[bool]],
    *,
    now: datetime,
) -> int:
    notified_at = _NOTIFIED_AT[reminder]
    candidates = await session.exec(
        select(PrivacyRequest)
        .where(col(PrivacyRequest.status).in_(DEADLINE_RUNS_IN))
        .where(col(PrivacyRequest.paused_since).is_(None))
        .where(notified_at.is_(None))
        .where(*conditions)
        .order_by(col(PrivacyRequest.id))
    )
    sent = 0
    for request in candidates.all():
        # Claimed by a conditional update: of two housekeepers that found the same
        # request, only one reminds the shop.
        claimed = await session.exec(
            update(PrivacyRequest)
            .where(col(PrivacyRequest.id) == request.id)
            .where(notified_at.is_(None))
            .values({notified_at: now})
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:
            continue
        # The row has it already: the object learns it without a second UPDATE.
        set_committed_value(request, f"{reminder}_notified_at", now)
        await notify_shop(session, request, _EVENT_TYPE[reminder], now=now)
        deadline = request.deadline.isoformat() if request.deadline else None
        await record_event(
            session,
            request,
            actor="system",
            action=reminder,
            now=now,
            detail={"deadline": deadline},
        )
        sent += 1
    return sent
