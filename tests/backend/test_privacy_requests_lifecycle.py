"""The lifecycle of a privacy request: every legal transition works and leaves an audit
event, every illegal one is refused and changes nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from itertools import product

import pytest
from sqlmodel import col, select

from backend.database import Database
from backend.models import REQUEST_STATUSES, AuditEvent, PrivacyRequest
from backend.privacy_requests import (
    TRANSITIONS,
    IllegalTransitionError,
    InvalidRequestError,
    cancel,
    deny,
    expire_unverified,
    get_request,
    start_work,
    transition,
)
from backend.privacy_requests.lifecycle import RequestStatus
from tests.backend.privacy_requests_support import (
    RULES,
    SHOP,
    T0,
    ConsoleMailbox,
    finish,
    started,
    verified,
)

LATER = T0 + timedelta(hours=1)


async def at_status(db: Database, mailbox: ConsoleMailbox, status: str) -> PrivacyRequest:
    """A request brought to `status` the way the service brings it there."""
    if status in ("identity_pending", "canceled", "expired"):
        request = await started(db, mailbox)
    else:
        request = await verified(db, mailbox)
    async with db.session() as session:
        request = await get_request(session, SHOP, request.id)
        if status == "canceled":
            await cancel(session, request, actor="customer", now=LATER)
        elif status == "expired":
            await expire_unverified(session, rules=RULES, now=T0 + RULES.unverified_expiry * 2)
        elif status in ("in_progress", "completed"):
            await start_work(session, request, now=LATER)
            if status == "completed":
                await finish(session, request, now=LATER)
        elif status == "denied":
            await deny(session, request, "no_customer_match", "We hold no data on you.", now=LATER)
    async with db.session() as session:
        request = await get_request(session, SHOP, request.id)
    assert request.status == status
    return request


async def trail(db: Database, request_id: str) -> list[tuple[str, str, str | None, str | None]]:
    async with db.session() as session:
        events = await session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.request_id) == request_id)
            .order_by(col(AuditEvent.id))
        )
        return [(e.actor, e.action, e.from_status, e.to_status) for e in events]


async def test_the_happy_path_is_audited_step_by_step(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await at_status(db, mailbox, "completed")
    assert request.closed_at == LATER
    assert await trail(db, request.id) == [
        ("customer", "created", None, "identity_pending"),
        ("system", "code_sent", None, None),
        ("customer", "verified", "identity_pending", "verified"),
        ("shop", "in_progress", "verified", "in_progress"),
        ("shop", "export_uploaded", None, None),
        ("shop", "completed", "in_progress", "completed"),
    ]


LEGAL = [(a, b) for a, onward in TRANSITIONS.items() for b in sorted(onward)]
ILLEGAL = [
    (a, b) for a, b in product(REQUEST_STATUSES, REQUEST_STATUSES) if b not in TRANSITIONS[a]
]


def test_the_lifecycle_is_the_one_in_the_issue() -> None:
    assert set(LEGAL) == {
        ("identity_pending", "verified"),
        ("identity_pending", "expired"),
        ("identity_pending", "canceled"),
        ("verified", "in_progress"),
        ("verified", "denied"),
        ("verified", "canceled"),
        ("in_progress", "completed"),
        ("in_progress", "denied"),
        ("in_progress", "canceled"),
    }


@pytest.mark.parametrize(("from_status", "to_status"), LEGAL)
async def test_every_legal_transition_is_made_and_audited(
    db: Database, mailbox: ConsoleMailbox, from_status: str, to_status: str
) -> None:
    # Reaching `to_status` through the service passes through `from_status` on the way.
    if from_status == "in_progress" or to_status in ("in_progress",):
        request = await at_status(db, mailbox, from_status)
        async with db.session() as session:
            request = await get_request(session, SHOP, request.id)
            if to_status == "in_progress":
                await start_work(session, request, now=LATER)
            elif to_status == "completed":
                await finish(session, request, now=LATER)
            elif to_status == "denied":
                await deny(session, request, "legal_retention", "Kept for tax law.", now=LATER)
            else:
                await cancel(session, request, actor="operator", now=LATER)
    else:
        if from_status == "verified" and to_status in ("denied", "canceled"):
            request = await at_status(db, mailbox, "verified")
            async with db.session() as session:
                request = await get_request(session, SHOP, request.id)
                if to_status == "denied":
                    await deny(session, request, "other", "See our reply.", now=LATER)
                else:
                    await cancel(session, request, actor="shop", now=LATER)
        else:
            request = await at_status(db, mailbox, to_status)
    async with db.session() as session:
        request = await get_request(session, SHOP, request.id)
    assert request.status == to_status
    assert (from_status, to_status) in [(f, t) for _, _, f, t in await trail(db, request.id)]
    if to_status in ("completed", "denied", "canceled", "expired"):
        assert request.closed_at is not None


@pytest.mark.parametrize(("from_status", "to_status"), ILLEGAL)
async def test_every_illegal_transition_is_refused_and_changes_nothing(
    db: Database, mailbox: ConsoleMailbox, from_status: str, to_status: RequestStatus
) -> None:
    request_id = (await at_status(db, mailbox, from_status)).id
    before = await trail(db, request_id)
    with pytest.raises(IllegalTransitionError) as raised:
        async with db.session() as session:
            request = await get_request(session, SHOP, request_id)
            await transition(session, request, to_status, actor="shop", now=LATER)
    assert (raised.value.from_status, raised.value.to_status) == (from_status, to_status)
    assert request_id in str(raised.value)
    async with db.session() as session:
        assert (await get_request(session, SHOP, request_id)).status == from_status
    assert await trail(db, request_id) == before


async def test_a_denial_needs_a_known_reason_code_and_a_text(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await at_status(db, mailbox, "in_progress")
    async with db.session() as session:
        request = await get_request(session, SHOP, request.id)
        with pytest.raises(InvalidRequestError, match="reason"):
            await deny(session, request, "other", "   ")
        with pytest.raises(InvalidRequestError, match="denial reason"):
            await deny(session, request, "because", "No.")  # type: ignore[arg-type]
    async with db.session() as session:
        request = await get_request(session, SHOP, request.id)
        await deny(session, request, "manifestly_excessive", "The fifth copy this week.")
    async with db.session() as session:
        request = await get_request(session, SHOP, request.id)
        event = (
            await session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.request_id) == request.id)
                .where(col(AuditEvent.action) == "denied")
            )
        ).one()
    assert (request.status, request.denial_reason_code) == ("denied", "manifestly_excessive")
    assert request.denial_reason_text == "The fifth copy this week."
    # The customer's text stays on the request; the trail keeps only the code.
    assert event.detail == {"reason_code": "manifestly_excessive"}


async def test_two_racing_changes_from_the_same_status_let_only_one_pass(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await at_status(db, mailbox, "in_progress")

    async def close(how: str) -> str:
        try:
            async with db.session() as session:
                mine = await get_request(session, SHOP, request.id)
                if how == "complete":
                    await finish(session, mine, now=LATER)
                else:
                    await cancel(session, mine, actor="customer", now=LATER)
        except IllegalTransitionError:
            return "refused"
        return how

    outcomes = await asyncio.gather(close("complete"), close("cancel"))
    assert sorted(outcomes) in (["complete", "refused"], ["cancel", "refused"])
    closing = [t for _, _, _, t in await trail(db, request.id) if t in ("completed", "canceled")]
    assert len(closing) == 1
