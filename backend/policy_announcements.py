"""Customers who asked to hear when a shop's policy changes (`/notify`), and the telling
of each change to them.

Every app process runs an announcer; a change is claimed by one of them for a short lease
(row-locked on PostgreSQL), its subscribers are told in pseudonym order, and after each
batch the claim records the last one told. A process that dies mid-way leaves the lease
to lapse and another resumes after the last batch: at most one batch hears it twice,
and `announced_at`, set at the end, keeps a restart from telling anyone again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import CustomerProfile, PolicyChange, PolicySubscription, utc_now

LEASE = timedelta(minutes=5)
# Changes older than this are not announced any more (a deployment down for weeks).
LOOKBACK = timedelta(days=14)
CLAIM = "announcing"


async def subscribe(
    session: AsyncSession, shop_id: str, pseudonym: str, chat_id: int, language: str | None
) -> bool:
    """Subscribe the customer to `shop_id`'s policy changes; False if they already were
    (their chat and language are updated all the same)."""
    found = await session.get(PolicySubscription, (shop_id, pseudonym))
    if found is not None:
        found.chat_id = chat_id
        found.language = language
        session.add(found)
        return False
    session.add(
        PolicySubscription(shop_id=shop_id, pseudonym=pseudonym, chat_id=chat_id, language=language)
    )
    await session.flush()
    return True


async def unsubscribe(session: AsyncSession, shop_id: str, pseudonym: str) -> bool:
    result = await session.exec(
        delete(PolicySubscription)
        .where(col(PolicySubscription.shop_id) == shop_id)
        .where(col(PolicySubscription.pseudonym) == pseudonym)
    )
    return result.rowcount == 1


async def erase_subscriptions(session: AsyncSession, pseudonym: str) -> int:
    """Forget every subscription of `pseudonym` (for /forget)."""
    result = await session.exec(
        delete(PolicySubscription).where(col(PolicySubscription.pseudonym) == pseudonym)
    )
    return result.rowcount


async def subscribers_after(
    session: AsyncSession, shop_id: str, after: str | None, limit: int
) -> list[tuple[PolicySubscription, str | None]]:
    """The next `limit` subscribers of the shop after the pseudonym `after`, each with
    the language they chose with /language (None: they chose none)."""
    statement = (
        select(PolicySubscription, col(CustomerProfile.language))
        .join(
            CustomerProfile,
            col(CustomerProfile.pseudonym) == col(PolicySubscription.pseudonym),
            isouter=True,
        )
        .where(col(PolicySubscription.shop_id) == shop_id)
    )
    if after is not None:
        statement = statement.where(col(PolicySubscription.pseudonym) > after)
    rows = await session.exec(statement.order_by(col(PolicySubscription.pseudonym)).limit(limit))
    return [(subscription, language) for subscription, language in rows]


@dataclass(frozen=True)
class Announcement:
    change_id: int
    shop_id: str
    action: str
    summary: dict[str, Any]
    after: str | None  # the last subscriber told so far
    sent: int


def _claim_of(change: PolicyChange) -> dict[str, Any]:
    claim = change.summary.get(CLAIM)
    return claim if isinstance(claim, dict) else {}


def _worth_telling(summary: dict[str, Any]) -> bool:
    return any(summary.get(kind) for kind in ("added", "removed", "reworded"))


def _with_claim(change: PolicyChange, claim: dict[str, Any] | None) -> None:
    # A new dict: the JSON column is not tracked for changes made in place.
    summary = {key: value for key, value in change.summary.items() if key != CLAIM}
    if claim is not None:
        summary[CLAIM] = claim
    change.summary = summary


async def claim_announcement(
    session: AsyncSession, worker: str, now: datetime | None = None
) -> Announcement | None:
    """The oldest change still to be announced that no other worker holds, claimed for
    `worker`; changes that altered no section are marked done without a word."""
    now = now or utc_now()
    rows = await session.exec(
        select(PolicyChange)
        .where(col(PolicyChange.announced_at).is_(None))
        .where(col(PolicyChange.created_at) >= now - LOOKBACK)
        .order_by(col(PolicyChange.id))
        .with_for_update(skip_locked=True)
    )
    for change in rows:
        assert change.id is not None
        claim = _claim_of(change)
        held = claim.get("by") not in (None, worker)
        if held and datetime.fromisoformat(str(claim["until"])) > now:
            continue
        if not _worth_telling(change.summary):
            change.announced_at = now
            session.add(change)
            continue
        after, sent = claim.get("after"), int(claim.get("sent", 0))
        _with_claim(
            change,
            {"by": worker, "until": (now + LEASE).isoformat(), "after": after, "sent": sent},
        )
        session.add(change)
        return Announcement(change.id, change.shop_id, change.action, change.summary, after, sent)
    return None


async def advance_announcement(
    session: AsyncSession,
    change_id: int,
    worker: str,
    after: str,
    sent: int,
    now: datetime | None = None,
) -> bool:
    """Note the last subscriber told and renew the lease; False if the claim was lost
    (the lease lapsed and another worker took it over)."""
    now = now or utc_now()
    change = await session.get(PolicyChange, change_id, with_for_update=True)
    if change is None or change.announced_at is not None or _claim_of(change).get("by") != worker:
        return False
    _with_claim(
        change, {"by": worker, "until": (now + LEASE).isoformat(), "after": after, "sent": sent}
    )
    session.add(change)
    return True


async def finish_announcement(
    session: AsyncSession, change_id: int, worker: str, sent: int, now: datetime | None = None
) -> bool:
    now = now or utc_now()
    change = await session.get(PolicyChange, change_id, with_for_update=True)
    if change is None or change.announced_at is not None or _claim_of(change).get("by") != worker:
        return False
    _with_claim(change, None)
    change.summary = {**change.summary, "announced_to": sent}
    change.announced_at = now
    session.add(change)
    return True
