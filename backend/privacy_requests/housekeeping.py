"""The jobs that keep the request store tidy: expiring requests never verified, and
purging closed requests once their retention period has passed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import AuditEvent, PrivacyRequest, VerificationChallenge, utc_now
from backend.privacy_requests.deadlines import add_months
from backend.privacy_requests.lifecycle import CLOSED_STATUSES, transition
from backend.privacy_requests.settings import RequestRules


async def expire_unverified(
    session: AsyncSession, *, rules: RequestRules, now: datetime | None = None
) -> int:
    """Expire the requests whose identity was not verified in time; returns how many."""
    now = now or utc_now()
    stale = await session.exec(
        select(PrivacyRequest)
        .where(col(PrivacyRequest.status) == "identity_pending")
        .where(col(PrivacyRequest.created_at) < now - rules.unverified_expiry)
    )
    expired = 0
    for request in stale.all():
        await transition(session, request, "expired", actor="system", now=now)
        # The code can no longer be used; its hash is no use to anyone.
        await session.exec(
            delete(VerificationChallenge).where(col(VerificationChallenge.request_id) == request.id)
        )
        expired += 1
    return expired


async def purge_closed(
    session: AsyncSession, *, rules: RequestRules, now: datetime | None = None
) -> int:
    """Delete the requests closed more than the retention period ago, with their audit
    trail; returns how many. Suppression entries stay: an objection does not expire."""
    now = now or utc_now()
    cutoff = add_months(now, -rules.retention_months)
    doomed = (
        select(col(PrivacyRequest.id))
        .where(col(PrivacyRequest.status).in_(CLOSED_STATUSES))
        .where(col(PrivacyRequest.closed_at) < cutoff)
    )
    # Children first and explicitly: foreign keys cascade only where SQLite enforces them.
    await session.exec(delete(AuditEvent).where(col(AuditEvent.request_id).in_(doomed)))
    await session.exec(
        delete(VerificationChallenge).where(col(VerificationChallenge.request_id).in_(doomed))
    )
    result = await session.exec(delete(PrivacyRequest).where(col(PrivacyRequest.id).in_(doomed)))
    return result.rowcount
