"""Deadline reminders to the shop: `due_soon` once, shortly before the deadline, and
`overdue` once after it; none for a paused or closed request; a moved deadline gets its own.
Time is moved on by passing `now`, never by sleeping."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select

from backend.database import Database
from backend.models import AuditEvent, OutboxEvent, PrivacyRequest, WebhookDelivery
from backend.privacy_requests import (
    add_months,
    cancel,
    extend,
    get_request,
    pause,
    resume,
    send_reminders,
    start_work,
)
from backend.webhooks import REQUEST_DUE_SOON, REQUEST_OVERDUE, create_endpoint
from tests.backend.privacy_requests_support import (
    BOB,
    RULES,
    SHOP,
    T0,
    ConsoleMailbox,
    finish,
    started,
    verified,
)

DUE = add_months(T0, 1)  # the deadline of a request verified at T0
SOON = DUE - RULES.due_soon_before
SECOND = timedelta(seconds=1)


async def remind(db: Database, now: datetime) -> tuple[int, int]:
    async with db.session() as session:
        return await send_reminders(session, rules=RULES, now=now)


async def current(db: Database, request: PrivacyRequest) -> PrivacyRequest:
    async with db.session() as session:
        return await get_request(session, SHOP, request.id)


async def reminder_events(db: Database, request: PrivacyRequest) -> list[AuditEvent]:
    async with db.session() as session:
        rows = await session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.request_id) == request.id)
            .where(col(AuditEvent.action).in_(["due_soon", "overdue"]))
            .order_by(col(AuditEvent.id))
        )
        return list(rows)


async def test_due_soon_is_sent_once_when_the_deadline_comes_near(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await verified(db, mailbox)
    assert request.deadline == DUE
    assert await remind(db, T0 + timedelta(days=1)) == (0, 0)
    assert await remind(db, SOON - SECOND) == (0, 0)
    assert (await current(db, request)).due_soon_notified_at is None

    assert await remind(db, SOON) == (1, 0)
    assert await remind(db, SOON + timedelta(days=1)) == (0, 0)
    assert await remind(db, DUE) == (0, 0)
    reloaded = await current(db, request)
    assert (reloaded.due_soon_notified_at, reloaded.overdue_notified_at) == (SOON, None)
    [event] = await reminder_events(db, request)
    assert (event.actor, event.action, event.at) == ("system", "due_soon", SOON)
    assert event.detail == {"deadline": DUE.isoformat()}


async def test_overdue_is_sent_once_after_the_deadline(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await verified(db, mailbox)
    async with db.session() as session:
        await start_work(session, await get_request(session, SHOP, request.id), now=T0)
    assert await remind(db, SOON) == (1, 0)
    assert await remind(db, DUE + SECOND) == (0, 1)
    assert await remind(db, DUE + timedelta(days=10)) == (0, 0)
    reloaded = await current(db, request)
    assert (reloaded.due_soon_notified_at, reloaded.overdue_notified_at) == (SOON, DUE + SECOND)
    assert [e.action for e in await reminder_events(db, request)] == ["due_soon", "overdue"]


async def test_a_late_first_run_sends_only_overdue(db: Database, mailbox: ConsoleMailbox) -> None:
    request = await verified(db, mailbox)
    assert await remind(db, DUE + timedelta(days=2)) == (0, 1)
    assert await remind(db, DUE + timedelta(days=3)) == (0, 0)
    assert (await current(db, request)).due_soon_notified_at is None


async def test_only_the_requests_near_their_deadline_are_reminded(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    near = await verified(db, mailbox)
    later = await verified(db, mailbox, pseudonym=BOB, email="bob@example.org", deadline_months=2)
    assert await remind(db, SOON) == (1, 0)
    assert (await current(db, near)).due_soon_notified_at == SOON
    assert (await current(db, later)).due_soon_notified_at is None


async def test_a_paused_request_gets_no_reminder(db: Database, mailbox: ConsoleMailbox) -> None:
    request = await verified(db, mailbox)
    async with db.session() as session:
        await pause(session, await get_request(session, SHOP, request.id), now=SOON - SECOND)
    assert await remind(db, SOON) == (0, 0)
    assert await remind(db, DUE + timedelta(days=1)) == (0, 0)
    assert await reminder_events(db, request) == []

    # Once resumed, the deadline has moved by the pause and is reminded of in its turn.
    resumed_at = DUE + timedelta(days=2)
    async with db.session() as session:
        request = await resume(
            session, await get_request(session, SHOP, request.id), now=resumed_at
        )
    moved = DUE + (resumed_at - (SOON - SECOND))
    assert request.deadline == moved
    assert await remind(db, resumed_at) == (0, 0)
    assert await remind(db, moved - RULES.due_soon_before) == (1, 0)


async def test_an_extension_gives_the_new_deadline_its_own_reminders(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await verified(db, mailbox)
    assert await remind(db, SOON) == (1, 0)
    extended_at = SOON + timedelta(days=1)
    async with db.session() as session:
        request = await get_request(session, SHOP, request.id)
        await extend(session, request, 1, "We need the archive of 2019.", now=extended_at)
    new_deadline = add_months(T0, 2)
    assert request.deadline == new_deadline

    assert await remind(db, extended_at) == (0, 0)
    assert (await current(db, request)).due_soon_notified_at is None
    assert await remind(db, DUE + SECOND) == (0, 0)  # the old deadline no longer counts
    assert await remind(db, new_deadline - RULES.due_soon_before) == (1, 0)
    assert await remind(db, new_deadline + SECOND) == (0, 1)
    assert [e.detail["deadline"] for e in await reminder_events(db, request)] == [
        DUE.isoformat(),
        new_deadline.isoformat(),
        new_deadline.isoformat(),
    ]


async def test_an_extension_after_the_deadline_gets_its_own_overdue(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await verified(db, mailbox)
    assert await remind(db, DUE + SECOND) == (0, 1)
    async with db.session() as session:
        request = await get_request(session, SHOP, request.id)
        await extend(session, request, 2, "The archive is offsite.", now=DUE + timedelta(days=1))
    assert await remind(db, DUE + timedelta(days=1)) == (0, 0)
    assert (await current(db, request)).overdue_notified_at is None
    assert await remind(db, add_months(T0, 3) + SECOND) == (0, 1)


async def test_closed_and_unverified_requests_get_no_reminder(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    done = await verified(db, mailbox)
    canceled = await verified(db, mailbox, kind="deletion")
    pending = await started(db, mailbox, pseudonym=BOB, email="bob@example.org")
    async with db.session() as session:
        done = await get_request(session, SHOP, done.id)
        await start_work(session, done, now=T0)
        await finish(session, done, now=T0 + timedelta(days=1))
        await cancel(session, await get_request(session, SHOP, canceled.id), actor="customer")
    assert await remind(db, SOON) == (0, 0)
    assert await remind(db, DUE + SECOND) == (0, 0)
    for request in (done, canceled, pending):
        assert await reminder_events(db, request) == []


async def test_reminders_go_into_the_outbox_and_to_a_subscribed_endpoint(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    async with db.session() as session:
        endpoint = await create_endpoint(
            session,
            SHOP,
            "http://127.0.0.1:9/hooks",
            [REQUEST_DUE_SOON, REQUEST_OVERDUE],
            allow_private_targets=True,
        )
        other_shop = await create_endpoint(
            session, "othershop", "http://127.0.0.1:9/other", allow_private_targets=True
        )
    request = await verified(db, mailbox)
    assert await remind(db, SOON) == (1, 0)
    assert await remind(db, DUE + SECOND) == (0, 1)

    async with db.session() as session:
        events = list(
            await session.exec(
                select(OutboxEvent)
                .where(col(OutboxEvent.type).in_([REQUEST_DUE_SOON, REQUEST_OVERDUE]))
                .order_by(col(OutboxEvent.created_at))
            )
        )
        deliveries = list(await session.exec(select(WebhookDelivery)))
    assert [(e.type, e.shop_id, e.created_at) for e in events] == [
        (REQUEST_DUE_SOON, SHOP, SOON),
        (REQUEST_OVERDUE, SHOP, DUE + SECOND),
    ]
    for event in events:
        assert event.payload == {
            "request_id": request.id,
            "kind": "access",
            "status": "verified",
            "due_at": DUE.isoformat(),
        }
    # Subscribed to the reminders only: the `created` and `verified` events pass it by.
    assert sorted((d.event_id, d.endpoint_id, d.status) for d in deliveries) == sorted(
        (e.id, endpoint.id, "pending") for e in events
    )
    assert other_shop.id not in {d.endpoint_id for d in deliveries}
