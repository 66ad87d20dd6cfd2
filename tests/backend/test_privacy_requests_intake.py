"""Starting requests: unsubscribe takes effect at once, duplicates merge, too many are
refused; and what is kept afterwards: the customer's list, the shop's audit CSV, the purge."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlmodel import col, select

from backend.database import Database
from backend.models import AuditEvent, PrivacyRequest, SuppressionEntry
from backend.privacy_requests import (
    InvalidRequestError,
    RequestLimitError,
    RequestNotFoundError,
    RequestRules,
    add_months,
    audit_trail_csv,
    cancel,
    expire_unverified,
    get_customer_request,
    get_request,
    is_suppressed,
    list_requests_for,
    purge_closed,
)
from backend.privacy_requests.lifecycle import RequestKind
from tests.backend.privacy_requests_support import (
    ALICE,
    BOB,
    KEY,
    RULES,
    SHOP,
    T0,
    ConsoleMailbox,
    started,
    verified,
)


async def test_an_unsubscribe_takes_effect_once_verified(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    async with db.session() as session:
        assert not await is_suppressed(session, SHOP, "anna@example.org", rules=RULES)
    request = await verified(db, mailbox, kind="unsubscribe", email=" Anna@Example.ORG ")
    assert (request.status, request.closed_at) == ("completed", T0)
    async with db.session() as session:
        assert await is_suppressed(session, SHOP, "anna@example.org", rules=RULES)
        assert not await is_suppressed(session, "othershop", "anna@example.org", rules=RULES)
        assert not await is_suppressed(session, SHOP, "bob@example.org", rules=RULES)
    # Again, from another account: the objection is recorded once.
    again = await verified(db, mailbox, kind="unsubscribe", pseudonym=BOB, email="anna@example.org")
    assert again.status == "completed"
    async with db.session() as session:
        entries = (await session.exec(select(SuppressionEntry))).all()
        assert len(entries) == 1 and "anna" not in entries[0].email_hash
        details = (
            await session.exec(
                select(AuditEvent.detail).where(col(AuditEvent.to_status) == "completed")
            )
        ).all()
    assert [d["suppression"] for d in details] == ["added", "already_present"]


async def test_an_unverified_unsubscribe_suppresses_nothing(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    await started(db, mailbox, kind="unsubscribe")
    async with db.session() as session:
        assert not await is_suppressed(session, SHOP, "anna@example.org", rules=RULES)


async def test_a_duplicate_open_request_is_merged(db: Database, mailbox: ConsoleMailbox) -> None:
    first = await started(db, mailbox)
    same = await started(db, mailbox, email="ANNA@example.org", now=T0 + timedelta(minutes=5))
    assert same.id == first.id
    assert len(mailbox.codes()) == 1
    # Once verified, any address: it is the same customer's open request.
    await verified(db, mailbox, kind="deletion")
    merged = await started(db, mailbox, kind="deletion", email="other@example.org")
    async with db.session() as session:
        rows = (await session.exec(select(PrivacyRequest.kind, PrivacyRequest.status))).all()
    assert sorted(rows) == [("access", "identity_pending"), ("deletion", "verified")]
    assert merged.status == "verified"


async def test_a_pending_request_for_another_address_is_superseded(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    typo = await started(db, mailbox, email="anna@exmaple.org")
    fixed = await started(db, mailbox, email="anna@example.org")
    assert fixed.id != typo.id
    async with db.session() as session:
        old = await get_request(session, SHOP, typo.id)
        event = (
            await session.exec(select(AuditEvent).where(col(AuditEvent.action) == "superseded"))
        ).one()
    assert old.status == "canceled"
    assert (event.request_id, event.detail) == (typo.id, {"superseded_by": fixed.id})


async def test_another_account_with_the_same_address_gets_its_own_request(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    alices = await started(db, mailbox)
    bobs = await started(db, mailbox, pseudonym=BOB)
    assert bobs.id != alices.id
    async with db.session() as session:
        assert [r.id for r in await list_requests_for(session, BOB)] == [bobs.id]
        with pytest.raises(RequestNotFoundError):
            await get_customer_request(session, BOB, alices.id)
        with pytest.raises(RequestNotFoundError):
            await get_request(session, "othershop", alices.id)


async def test_too_many_requests_in_the_period_are_refused(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    rules = RequestRules(server_key=KEY, request_limit=2, request_limit_period=timedelta(days=7))
    kinds: tuple[RequestKind, ...] = ("access", "deletion")
    for day, kind in enumerate(kinds):
        await started(db, mailbox, kind=kind, now=T0 + timedelta(days=day), rules=rules)
    with pytest.raises(RequestLimitError, match="at most 2 requests in 7 days"):
        await started(db, mailbox, kind="unsubscribe", now=T0 + timedelta(days=2), rules=rules)
    # The same address from another account counts as the same person...
    with pytest.raises(RequestLimitError):
        await started(
            db, mailbox, kind="unsubscribe", pseudonym=BOB, now=T0 + timedelta(days=2), rules=rules
        )
    # ...and a merge is no new request.
    await started(db, mailbox, kind="access", now=T0 + timedelta(days=2), rules=rules)
    later = await started(db, mailbox, kind="unsubscribe", now=T0 + timedelta(days=8), rules=rules)
    assert later.status == "identity_pending"


@pytest.mark.parametrize(
    "email",
    [
        "",
        "anna",
        "anna@",
        "@example.org",
        "an na@example.org",
        "anna@localhost",
        # Issue 12, defect 8: control, bidirectional and zero-width characters.
        "a\u0000\u202eb@example.com",
        "an\u202ena@example.org",
        "an\u200bna@example.org",
        "anna@exa\u200dmple.org",
        "anna@example.org\u0007",
    ],
)
async def test_a_malformed_address_is_refused(
    db: Database, mailbox: ConsoleMailbox, email: str
) -> None:
    with pytest.raises(InvalidRequestError, match="not an e-mail address"):
        await started(db, mailbox, email=email)
    async with db.session() as session:
        assert (await session.exec(select(PrivacyRequest))).all() == []


async def test_an_unknown_kind_is_refused(db: Database, mailbox: ConsoleMailbox) -> None:
    with pytest.raises(InvalidRequestError, match="kind"):
        await started(db, mailbox, kind="rectification")  # type: ignore[arg-type]


async def test_the_customer_lists_their_own_requests_newest_first(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    access = await started(db, mailbox)
    deletion = await started(db, mailbox, kind="deletion", now=T0 + timedelta(minutes=1))
    await started(db, mailbox, pseudonym=BOB, email="bob@example.org")
    async with db.session() as session:
        mine = await list_requests_for(session, ALICE)
        assert [r.id for r in mine] == [deletion.id, access.id]
        assert await list_requests_for(session, ALICE, shop_id="othershop") == []


async def test_unverified_requests_expire(db: Database, mailbox: ConsoleMailbox) -> None:
    stale = await started(db, mailbox)
    fresh = await started(db, mailbox, kind="deletion", now=T0 + timedelta(hours=20))
    async with db.session() as session:
        assert await expire_unverified(session, rules=RULES, now=T0 + timedelta(hours=25)) == 1
    async with db.session() as session:
        assert (await get_request(session, SHOP, stale.id)).status == "expired"
        assert (await get_request(session, SHOP, fresh.id)).status == "identity_pending"


async def test_the_audit_csv_has_every_event_and_nothing_personal(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await verified(db, mailbox, kind="unsubscribe", email="anna.novak@example.org")
    await started(db, mailbox, pseudonym=BOB, email="bob@example.org")
    async with db.session() as session:
        exported = await audit_trail_csv(session, SHOP)
        everything = (await session.exec(select(AuditEvent))).all()
        assert await audit_trail_csv(session, "othershop") == exported.splitlines()[0] + "\n"
        later = await audit_trail_csv(session, SHOP, since=T0 + timedelta(seconds=1))
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert len(rows) == len(everything) == 7
    assert [r["action"] for r in rows if r["request_id"] == request.id] == [
        "created",
        "code_sent",
        "verified",
        "in_progress",
        "completed",
    ]
    assert {r["kind"] for r in rows} == {"unsubscribe", "access"}
    for secret in ("anna", "bob", "example.org", ALICE, BOB, *mailbox.codes()):
        assert secret not in exported
    assert later.count("\n") == 1


async def test_purge_removes_only_closed_requests_past_retention(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    old_closed = await verified(db, mailbox, kind="unsubscribe")
    old_open = await verified(db, mailbox, kind="access")
    recent = await started(db, mailbox, kind="deletion", now=add_months(T0, 30))
    async with db.session() as session:
        recent = await get_request(session, SHOP, recent.id)
        await cancel(session, recent, actor="customer", now=add_months(T0, 30))
    now = add_months(T0, 36) + timedelta(days=1)
    async with db.session() as session:
        assert await purge_closed(session, rules=RULES, now=now) == 1
    async with db.session() as session:
        left = {r.id for r in (await session.exec(select(PrivacyRequest))).all()}
        events = {e.request_id for e in (await session.exec(select(AuditEvent))).all()}
        assert await is_suppressed(session, SHOP, "anna@example.org", rules=RULES)
    assert left == events == {old_open.id, recent.id}
    assert old_closed.id not in left


async def test_the_audit_trail_pages_add_up_to_the_whole(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    # Issue 12, defect 11: the API streams the trail page by page (keyset on time and id).
    from backend.privacy_requests.audit_export import audit_trail_page, csv_header

    await verified(db, mailbox, kind="unsubscribe", email="anna.novak@example.org")
    await started(db, mailbox, pseudonym=BOB, email="bob@example.org")
    async with db.session() as session:
        whole = await audit_trail_csv(session, SHOP)
        parts = [csv_header()]
        after = None
        pages = 0
        while True:
            text, after = await audit_trail_page(session, SHOP, after=after, rows=2)
            parts.append(text)
            pages += 1
            if after is None:
                break
    assert "".join(parts) == whole
    assert pages == 4  # 7 events, 2 a page
