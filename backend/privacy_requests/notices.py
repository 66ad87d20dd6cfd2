"""Notices to customers: a change of a request the customer did not make in the chat
(the shop started it, extended it, completed or denied it; it expired) is queued here, in
the transaction of the change, and the bot tells the customer in their chat.

The queue holds the chat id only until the notice went out; the request keeps it only
while it is open.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import CustomerNotice, PrivacyRequest

# The events a customer is told about; each has a message in the bot's catalogs.
NOTICE_EVENTS: Final = frozenset(
    {"verified", "in_progress", "extended", "completed", "denied", "canceled", "expired"}
)
MAX_ATTEMPTS: Final = 10
# Longer than sending one notice can take.
LEASE: Final = timedelta(minutes=2)


async def queue_notice(
    session: AsyncSession, request: PrivacyRequest, event: str, *, now: datetime
) -> None:
    """Queue `event` for the customer of `request`, if they can be reached in a chat."""
    if event not in NOTICE_EVENTS:
        raise ValueError(f"no notice for {event!r}")
    if request.notify_chat_id is None:
        return
    session.add(
        CustomerNotice(
            request_id=request.id,
            chat_id=request.notify_chat_id,
            event=event,
            created_at=now,
            next_attempt_at=now,
        )
    )
    await session.flush()


async def due_notices(
    session: AsyncSession, *, now: datetime, limit: int, lease: timedelta = LEASE
) -> list[CustomerNotice]:
    """Claim the notices to send now, oldest first: each is put off by `lease`, so that
    another copy of the app does not send it too; sent, it is deleted; if this copy dies
    before, the lease runs out and another sends it."""
    due = (
        select(col(CustomerNotice.id))
        .where(col(CustomerNotice.next_attempt_at) <= now)
        .order_by(col(CustomerNotice.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = list(
        (
            await session.exec(
                update(CustomerNotice)
                .where(col(CustomerNotice.id).in_(due.scalar_subquery()))
                .values(next_attempt_at=now + lease)
                .returning(col(CustomerNotice.id))
                .execution_options(synchronize_session=False)
            )
        ).scalars()
    )
    if not claimed:
        return []
    rows = await session.exec(
        select(CustomerNotice)
        .where(col(CustomerNotice.id).in_(claimed))
        .order_by(col(CustomerNotice.id))
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def notice_sent(session: AsyncSession, notice_id: int) -> None:
    await session.exec(delete(CustomerNotice).where(col(CustomerNotice.id) == notice_id))


async def notice_failed(
    session: AsyncSession, notice: CustomerNotice, *, now: datetime, permanent: bool = False
) -> bool:
    """Try again later (back-off doubling from 30 s); give up, deleting it, when the chat is
    gone for good or after MAX_ATTEMPTS. True when it will be tried again."""
    attempts = notice.attempts + 1
    if permanent or attempts >= MAX_ATTEMPTS:
        await notice_sent(session, notice.id or 0)
        return False
    await session.exec(
        update(CustomerNotice)
        .where(col(CustomerNotice.id) == notice.id)
        .values(attempts=attempts, next_attempt_at=now + timedelta(seconds=30 * 2**attempts))
        .execution_options(synchronize_session=False)
    )
    return True
