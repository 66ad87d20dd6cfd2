"""The jobs that keep the request store tidy: expiring requests never verified, erasing
the e-mail addresses of closed requests, purging closed requests once their retention
period has passed, and forgetting the answers kept for retried API calls.

Each works set-based, on the rows it concerns only; `backend.jobs` runs them in turn."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import (
    AccessExport,
    AuditEvent,
    CustomerNotice,
    IdempotencyRecord,
    PrivacyRequest,
    VerificationChallenge,
    utc_now,
)
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
    trail, export and notices; returns how many. Suppression entries stay: an objection
    does not expire."""
    now = now or utc_now()
    cutoff = add_months(now, -rules.retention_months)
    doomed = (
        select(col(PrivacyRequest.id))
        .where(col(PrivacyRequest.status).in_(CLOSED_STATUSES))
        .where(col(PrivacyRequest.closed_at) < cutoff)
    )
    # Children first and explicitly: foreign keys cascade only where SQLite enforces them.
    for child in (AuditEvent, VerificationChallenge, AccessExport, CustomerNotice):
        await session.exec(delete(child).where(col(child.request_id).in_(doomed)))
    result = await session.exec(delete(PrivacyRequest).where(col(PrivacyRequest.id).in_(doomed)))
    return result.rowcount


async def erase_sealed_emails(session: AsyncSession, *, rules: RequestRules, now: datetime) -> int:
    """Erase the sealed e-mail address of the requests closed more than
    `rules.sealed_email_keep` ago; returns how many. The shop needed it to find the
    customer's data while the request was open, and for questions shortly after; the
    hash stays (the request limit counts by it)."""
    result = await session.exec(
        update(PrivacyRequest)
        .where(col(PrivacyRequest.status).in_(CLOSED_STATUSES))
        .where(col(PrivacyRequest.closed_at) < now - rules.sealed_email_keep)
        .where(col(PrivacyRequest.email_sealed).is_not(None))
        .values(email_sealed=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


async def purge_idempotency_records(
    session: AsyncSession, *, now: datetime, keep: timedelta = timedelta(hours=24)
) -> int:
    """Delete the answers kept for retried API calls once older than `keep` (a client
    retries within minutes; a day is plenty); returns how many."""
    result = await session.exec(
        delete(IdempotencyRecord).where(col(IdempotencyRecord.created_at) < now - keep)
    )
    return result.rowcount
