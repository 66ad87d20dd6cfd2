"""Deadlines in calendar months: month ends, leap years, a per-shop period, the clock
paused while the shop waits, and extensions of at most two months with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from backend.database import Database
from backend.models import AuditEvent
from backend.privacy_requests import (
    ExtensionLimitError,
    IllegalTransitionError,
    InvalidRequestError,
    add_months,
    extend,
    get_request,
    pause,
    resume,
    start_work,
)
from tests.backend.privacy_requests_support import (
    SHOP,
    ConsoleMailbox,
    finish,
    verified,
)


def at(year: int, month: int, day: int, hour: int = 9) -> datetime:
    return datetime(year, month, day, hour, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "months", "due"),
    [
        (at(2026, 3, 15), 1, at(2026, 3, 15).replace(month=4)),
        (at(2026, 1, 31), 1, at(2026, 2, 28)),
        (at(2028, 1, 31), 1, at(2028, 2, 29)),  # leap year
        (at(2028, 2, 29), 12, at(2029, 2, 28)),
        (at(2026, 3, 31), 1, at(2026, 4, 30)),
        (at(2026, 12, 15), 1, at(2027, 1, 15)),
        (at(2026, 1, 31), 3, at(2026, 4, 30)),
        (at(2026, 5, 31), -3, at(2026, 2, 28)),
        (at(2026, 1, 15), -1, at(2025, 12, 15)),
    ],
)
def test_calendar_months(start: datetime, months: int, due: datetime) -> None:
    assert add_months(start, months) == due


async def test_verification_starts_a_one_month_clock_by_default(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await verified(db, mailbox, now=at(2028, 1, 31))
    assert request.verified_at == at(2028, 1, 31)
    assert (request.due_at, request.deadline) == (at(2028, 2, 29), at(2028, 2, 29))
    assert request.extended_until is None


async def test_the_shop_sets_its_own_number_of_months(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await verified(db, mailbox, now=at(2026, 1, 31), deadline_months=2)
    assert request.due_at == at(2026, 3, 31)


async def test_a_pause_moves_the_deadline_by_the_time_it_lasted(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await verified(db, mailbox, now=at(2026, 1, 31))
    async with db.session() as session:
        request = await get_request(session, SHOP, request.id)
        await start_work(session, request, now=at(2026, 2, 2))
        await pause(session, request, now=at(2026, 2, 3))
        with pytest.raises(IllegalTransitionError, match="paused"):
            await pause(session, request, now=at(2026, 2, 4))
    async with db.session() as session:
        request = await get_request(session, SHOP, request.id)
        await resume(session, request, now=at(2026, 2, 10, hour=21))
    assert request.paused_since is None
    assert request.paused_seconds == 7 * 86400 + 12 * 3600
    assert request.due_at == at(2026, 2, 28) + timedelta(days=7, hours=12)
    async with db.session() as session:
        request = await get_request(session, SHOP, request.id)
        with pytest.raises(IllegalTransitionError, match="resumed"):
            await resume(session, request, now=at(2026, 2, 11))
        events = await session.exec(
            select(AuditEvent.action, AuditEvent.detail).where(
                col(AuditEvent.request_id) == request.id
            )
        )
        actions = {action: detail for action, detail in events}
    assert "paused" in actions
    assert actions["resumed"]["paused_seconds"] == request.paused_seconds


async def test_closing_a_paused_request_counts_the_pause(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await verified(db, mailbox, now=at(2026, 1, 10))
    async with db.session() as session:
        request = await get_request(session, SHOP, request.id)
        await start_work(session, request, now=at(2026, 1, 11))
        await pause(session, request, now=at(2026, 1, 12))
        await finish(session, request, now=at(2026, 1, 14))
    assert request.paused_since is None
    assert request.paused_seconds == 2 * 86400


async def test_an_extension_needs_a_reason_and_stops_at_two_months(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await verified(db, mailbox, now=at(2026, 1, 31))
    async with db.session() as session:
        request = await get_request(session, SHOP, request.id)
        with pytest.raises(InvalidRequestError, match="reason"):
            await extend(session, request, 1, " ")
        with pytest.raises(InvalidRequestError, match="1 to 2 months"):
            await extend(session, request, 3, "Many systems to search.")
        await extend(session, request, 1, "Many systems to search.", now=at(2026, 2, 20))
    assert (request.due_at, request.extended_until) == (at(2026, 2, 28), at(2026, 3, 31))
    async with db.session() as session:
        request = await get_request(session, SHOP, request.id)
        with pytest.raises(ExtensionLimitError, match="already extended by 1 month"):
            await extend(session, request, 2, "Still searching.")
        await extend(session, request, 1, "Still searching.", now=at(2026, 3, 20))
    # Counted from the verification, not from the month-end it was clipped to.
    assert request.extended_until == request.deadline == at(2026, 4, 30)
    assert request.extension_reason == "Still searching."
    async with db.session() as session:
        request = await get_request(session, SHOP, request.id)
        with pytest.raises(ExtensionLimitError):
            await extend(session, request, 1, "Once more?")
        extensions = await session.exec(
            select(AuditEvent.detail)
            .where(col(AuditEvent.request_id) == request.id)
            .where(col(AuditEvent.action) == "extended")
            .order_by(col(AuditEvent.id))
        )
        assert [detail["extension_months"] for detail in extensions] == [1, 2]


async def test_a_pause_also_moves_an_extended_deadline(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await verified(db, mailbox, now=at(2026, 1, 31))
    async with db.session() as session:
        request = await get_request(session, SHOP, request.id)
        await extend(session, request, 2, "Archived systems.", now=at(2026, 2, 1))
        await pause(session, request, now=at(2026, 2, 2))
        await resume(session, request, now=at(2026, 2, 5))
    assert request.due_at == at(2026, 3, 3)
    assert request.extended_until == at(2026, 5, 3)


async def test_a_closed_request_cannot_be_extended_or_paused(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await verified(db, mailbox, kind="unsubscribe")
    assert request.status == "completed"
    async with db.session() as session:
        request = await get_request(session, SHOP, request.id)
        with pytest.raises(IllegalTransitionError):
            await extend(session, request, 1, "Too late.")
        with pytest.raises(IllegalTransitionError):
            await pause(session, request)
