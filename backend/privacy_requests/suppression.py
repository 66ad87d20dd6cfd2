"""Marketing suppression: once a customer objects to direct marketing, the shop must keep
honouring it, so the objection outlives the request (kept as a keyed hash of the address).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.database import insert_for
from backend.models import SuppressionEntry
from backend.privacy_requests.hashing import email_hash
from backend.privacy_requests.settings import RequestRules


async def suppress(session: AsyncSession, shop_id: str, hashed_email: str, now: datetime) -> bool:
    """Record the objection; True if it is new, False if it was already there."""
    statement = insert_for(session, SuppressionEntry)
    # One statement: two unsubscribes of the same address at once must not fail on the
    # unique constraint.
    result = await session.exec(
        statement.values(
            shop_id=shop_id, email_hash=hashed_email, created_at=now
        ).on_conflict_do_nothing(index_elements=["shop_id", "email_hash"])
    )
    return result.rowcount == 1


async def is_suppressed(
    session: AsyncSession, shop_id: str, email: str, *, rules: RequestRules
) -> bool:
    """Whether `email` objected to direct marketing by `shop_id`."""
    hashed = email_hash(rules.server_key, email)
    found = await session.exec(
        select(col(SuppressionEntry.id))
        .where(col(SuppressionEntry.shop_id) == shop_id)
        .where(col(SuppressionEntry.email_hash) == hashed)
    )
    return found.first() is not None
