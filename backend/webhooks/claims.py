"""Taking due deliveries for one worker, so that no two workers send the same one at once.

A claim is a lease: `locked_by`/`locked_until` set in one short transaction. A worker that
dies mid-send leaves a lease that simply runs out, and the delivery is taken again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import col, select

from backend.database import Database
from backend.models import WebhookDelivery

DUE_STATUSES = ("pending", "failed")


async def claim_due(
    database: Database, worker_id: str, *, now: datetime, lease: timedelta, limit: int
) -> list[str]:
    """The ids of up to `limit` deliveries due at `now`, now leased to `worker_id`."""
    due = (
        select(WebhookDelivery.id)
        .where(col(WebhookDelivery.status).in_(DUE_STATUSES))
        .where(col(WebhookDelivery.next_attempt_at) <= now)
        .where(
            or_(
                col(WebhookDelivery.locked_until).is_(None),
                col(WebhookDelivery.locked_until) < now,
            )
        )
        .order_by(col(WebhookDelivery.next_attempt_at))
        .limit(limit)
    )
    if database.engine.dialect.name == "postgresql":
        # Rows another worker is claiming right now are passed over, not waited for.
        due = due.with_for_update(skip_locked=True)
    # On SQLite the one UPDATE statement is the claim: SQLite runs it under its single
    # write lock, so a second worker's statement sees the lease and skips the row.
    claim = (
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id).in_(due.scalar_subquery()))
        .values(locked_by=worker_id, locked_until=now + lease)
        .returning(col(WebhookDelivery.id))
        .execution_options(synchronize_session=False)
    )
    async with database.session() as session:
        return list((await session.exec(claim)).scalars())
