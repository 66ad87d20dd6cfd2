"""The periodic housekeeping: erasing the addresses of closed requests, purging what is
kept no longer, and the Housekeeper that runs every job in a transaction of its own, goes
on when one fails, and stops when told. Time is moved on by passing `now` (or a clock)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TypedDict

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

import backend.jobs
from backend.database import Database
from backend.jobs import Housekeeper, HousekeepingReport
from backend.models import AccessExport, CustomerNotice, IdempotencyRecord, PrivacyRequest
from backend.privacy_requests import (
    RequestRules,
    add_months,
    cancel,
    erase_sealed_emails,
    get_request,
    purge_closed,
    purge_idempotency_records,
    start_work,
)
from backend.privacy_requests.exports import ExportPolicy, attach_export, mark_handed_over
from backend.pseudonyms import pseudonym_for
from tests.backend.privacy_requests_support import (
    KEY,
    RULES,
    SHOP,
    T0,
    ConsoleMailbox,
    finish,
    started,
    verified,
)

NOW = datetime(2029, 3, 15, 12, 0, tzinfo=UTC)
POLICY = ExportPolicy()


class Person(TypedDict):
    pseudonym: str
    email: str


def person(number: int) -> Person:
    """A customer of their own: requests of one person and kind would merge."""
    return {"pseudonym": pseudonym_for(3000 + number, KEY), "email": f"p{number}@example.org"}


async def sealed_emails(db: Database) -> dict[str, str | None]:
    async with db.session() as session:
        rows = await session.exec(select(PrivacyRequest))
        return {request.id: request.email_sealed for request in rows}


async def request_ids(db: Database) -> set[str]:
    return set(await sealed_emails(db))


async def closed(db: Database, request: PrivacyRequest, *, now: datetime) -> None:
    async with db.session() as session:
        await cancel(session, await get_request(session, SHOP, request.id), actor="shop", now=now)


async def add_idempotency_record(session: AsyncSession, key: str, created_at: datetime) -> None:
    session.add(
        IdempotencyRecord(
            shop_id=SHOP,
            key=key,
            fingerprint="0" * 64,
            status_code=201,
            body="{}",
            created_at=created_at,
        )
    )


async def upload_export(session: AsyncSession, request_id: str, *, now: datetime) -> AccessExport:
    request = await get_request(session, SHOP, request_id)
    return await attach_export(
        session, request, "export.json", "application/json", b"{}", policy=POLICY, now=now
    )


async def with_export_and_notices(db: Database) -> set[str]:
    """The requests that have an export and notices: both, or the test fails."""
    async with db.session() as session:
        exports = {e.request_id for e in await session.exec(select(AccessExport))}
        notices = {n.request_id for n in await session.exec(select(CustomerNotice))}
    assert exports == notices
    return exports


# The jobs, one by one


async def test_sealed_emails_are_erased_only_a_while_after_closing(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    old = await verified(db, mailbox, **person(1))
    recent = await verified(db, mailbox, **person(2))
    still_open = await verified(db, mailbox, **person(3))
    await closed(db, old, now=T0)
    await closed(db, recent, now=T0 + timedelta(days=10))
    now = T0 + RULES.sealed_email_keep + timedelta(seconds=1)
    async with db.session() as session:
        assert await erase_sealed_emails(session, rules=RULES, now=now) == 1
    async with db.session() as session:
        assert await erase_sealed_emails(session, rules=RULES, now=now) == 0
    sealed = await sealed_emails(db)
    assert sealed[old.id] is None
    assert sealed[recent.id] is not None
    assert sealed[still_open.id] is not None
    # The rules decide how long: with none to keep, the recent one goes too.
    async with db.session() as session:
        keep_none = RequestRules(server_key=KEY, sealed_email_keep=timedelta(0))
        assert await erase_sealed_emails(session, rules=keep_none, now=now) == 1
    assert (await sealed_emails(db))[recent.id] is None


async def test_idempotency_records_are_kept_for_a_day(db: Database) -> None:
    async with db.session() as session:
        await add_idempotency_record(session, "old", T0)
        await add_idempotency_record(session, "recent", T0 + timedelta(hours=2))
    async with db.session() as session:
        assert await purge_idempotency_records(session, now=T0 + timedelta(hours=25)) == 1
    async with db.session() as session:
        keys = [r.key for r in await session.exec(select(IdempotencyRecord))]
    assert keys == ["recent"]
    async with db.session() as session:
        hour = timedelta(hours=1)
        assert await purge_idempotency_records(session, now=T0 + 4 * hour, keep=hour) == 1


async def test_purging_a_closed_request_removes_its_export_and_notices(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    old = await verified(db, mailbox, **person(1))
    kept = await verified(db, mailbox, **person(2))
    async with db.session() as session:
        for request in (old, kept):
            request = await get_request(session, SHOP, request.id)
            request.notify_chat_id = 4242
            await start_work(session, request, now=T0)  # queues an `in_progress` notice
        old = await get_request(session, SHOP, old.id)
        await finish(session, old, now=T0 + timedelta(days=1))  # the export, and `completed`
        await upload_export(session, kept.id, now=T0)
    assert await with_export_and_notices(db) == {old.id, kept.id}

    async with db.session() as session:
        now = add_months(T0, RULES.retention_months) + timedelta(days=2)
        assert await purge_closed(session, rules=RULES, now=now) == 1
    assert await with_export_and_notices(db) == {kept.id}
    assert await request_ids(db) == {kept.id}


# The Housekeeper


async def seeded(db: Database, mailbox: ConsoleMailbox) -> dict[str, PrivacyRequest]:
    """One request (or row) for each job to act on at NOW, and one for none of them."""
    purged = await verified(db, mailbox, kind="unsubscribe", now=add_months(NOW, -37), **person(1))
    erased = await verified(
        db, mailbox, kind="unsubscribe", now=NOW - timedelta(days=31), **person(2)
    )
    expired = await started(db, mailbox, now=NOW - timedelta(days=2), **person(3))
    # Due on March 18, three days after NOW; the other one was due on March 14.
    due_soon = await verified(db, mailbox, now=add_months(NOW, -1) + timedelta(days=3), **person(4))
    overdue = await verified(
        db, mailbox, kind="deletion", now=add_months(NOW, -1) - timedelta(days=1), **person(5)
    )
    untouched = await verified(db, mailbox, now=NOW - timedelta(days=1), **person(6))
    async with db.session() as session:
        export = await upload_export(session, due_soon.id, now=NOW - timedelta(days=5))
        await mark_handed_over(session, export, now=NOW - timedelta(days=4))
        await add_idempotency_record(session, "old", NOW - timedelta(days=2))
        await add_idempotency_record(session, "recent", NOW - timedelta(hours=1))
    return {
        "purged": purged,
        "erased": erased,
        "expired": expired,
        "due_soon": due_soon,
        "overdue": overdue,
        "untouched": untouched,
    }


EVERY_JOB_ONCE = HousekeepingReport(
    expired=1,
    purged_requests=1,
    erased_emails=1,
    due_soon=1,
    overdue=1,
    purged_exports=1,
    purged_idempotency=1,
)


def housekeeper(db: Database) -> Housekeeper:
    return Housekeeper(db, RULES, POLICY, clock=lambda: NOW)


async def test_a_round_runs_every_job_and_reports_what_changed(
    db: Database, mailbox: ConsoleMailbox, caplog: pytest.LogCaptureFixture
) -> None:
    requests = await seeded(db, mailbox)
    with caplog.at_level(logging.INFO, logger="backend.jobs"):
        assert await housekeeper(db).run_once() == EVERY_JOB_ONCE
    [line] = [r.getMessage() for r in caplog.records if r.name == "backend.jobs"]
    assert "expired=1" in line and "purged_idempotency=1" in line
    for personal in ("example.org", *(r.id for r in requests.values())):
        assert personal not in line

    sealed = await sealed_emails(db)
    assert requests["purged"].id not in sealed
    assert sealed[requests["erased"].id] is None
    assert sealed[requests["untouched"].id] is not None
    async with db.session() as session:
        assert (await get_request(session, SHOP, requests["expired"].id)).status == "expired"
        overdue = await get_request(session, SHOP, requests["overdue"].id)
        assert overdue.overdue_notified_at == NOW
        assert (await session.exec(select(AccessExport))).all() == []

    # Everything is done: the next round changes nothing and says nothing.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="backend.jobs"):
        assert await housekeeper(db).run_once() == HousekeepingReport()
    assert [r for r in caplog.records if r.name == "backend.jobs"] == []


async def test_a_failing_job_stops_neither_the_others_nor_the_round(
    db: Database,
    mailbox: ConsoleMailbox,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    requests = await seeded(db, mailbox)

    async def broken(*args: object, **kwargs: object) -> tuple[int, int]:
        raise RuntimeError("the reminders are broken")

    async def purge_then_fail(session: AsyncSession, *, rules: RequestRules, now: datetime) -> int:
        await purge_closed(session, rules=rules, now=now)
        raise RuntimeError("the purge failed halfway")

    monkeypatch.setattr(backend.jobs, "send_reminders", broken)
    monkeypatch.setattr(backend.jobs, "purge_closed", purge_then_fail)
    with caplog.at_level(logging.INFO, logger="backend.jobs"):
        report = await housekeeper(db).run_once()
    # The address of the request the purge failed to delete is erased in the meantime.
    assert report == HousekeepingReport(
        expired=1, erased_emails=2, purged_exports=1, purged_idempotency=1
    )
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert failures == [
        "housekeeping: send_reminders failed",
        "housekeeping: purge_closed failed",
    ]
    # The failed purge was rolled back with its transaction; the other jobs' work stays.
    assert requests["purged"].id in await request_ids(db)

    monkeypatch.undo()
    assert await housekeeper(db).run_once() == HousekeepingReport(
        due_soon=1, overdue=1, purged_requests=1
    )


async def test_run_forever_runs_rounds_until_stopped(db: Database) -> None:
    stop = asyncio.Event()
    rounds: list[datetime] = []

    def clock() -> datetime:
        rounds.append(NOW)
        if len(rounds) == 3:
            stop.set()
        return NOW

    await Housekeeper(db, RULES, POLICY, interval_seconds=0, clock=clock).run_forever(stop)
    assert len(rounds) == 3


async def test_run_forever_survives_a_failed_round(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    stop = asyncio.Event()
    calls = 0

    def clock() -> datetime:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("no time")
        stop.set()
        return NOW

    await Housekeeper(db, RULES, POLICY, interval_seconds=0, clock=clock).run_forever(stop)
    assert calls == 2
    assert "housekeeping: a round failed" in caplog.messages


async def test_run_forever_stops_when_told_while_it_waits(db: Database) -> None:
    stop = asyncio.Event()
    first_round = asyncio.Event()

    def clock() -> datetime:
        first_round.set()
        return NOW

    keeper = Housekeeper(db, RULES, POLICY, interval_seconds=3600, clock=clock)
    task = asyncio.create_task(keeper.run_forever(stop))
    await first_round.wait()
    stop.set()
    # The hour's wait ends with the event; the bound only keeps a broken loop from hanging.
    await asyncio.wait_for(task, timeout=30)
    assert task.done() and task.exception() is None
