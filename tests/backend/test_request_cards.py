"""Request cards in the database, on SQLite and PostgreSQL: which requests still need a
card, the claim that lets one process post it (and another take over a dead one's), the
cards to refresh, the digest's requests, and the digest's leader."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlmodel import select

from backend.database import Database
from backend.models import RequestCard
from backend.privacy_requests import add_months, deny, get_request, start_work
from backend.pseudonyms import pseudonym_for
from backend.request_cards import (
    CLAIM_LEASE,
    DigestLeadership,
    card_at,
    card_of,
    card_posted,
    cards_changed_since,
    claim_card,
    digest_requests,
    release_claim,
    requests_without_card,
    split_by_deadline,
)
from tests.backend.privacy_requests_support import (
    KEY,
    SHOP,
    T0,
    ConsoleMailbox,
    started,
    verified,
)

GROUP = -100_777_000_001
MINUTE = timedelta(minutes=1)


def customer(number: int) -> str:
    return pseudonym_for(3000 + number, KEY)


async def needing(
    db: Database, *, now: datetime = T0, shops: tuple[str, ...] = (SHOP,)
) -> list[str]:
    async with db.session() as session:
        found = await requests_without_card(session, shops, now=now)
        return [request.id for request in found]


async def claim(db: Database, request_id: str, *, now: datetime = T0) -> bool:
    async with db.session() as session:
        return await claim_card(session, request_id, GROUP, now=now)


async def test_a_verified_request_needs_a_card_until_it_is_claimed(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await verified(db, mailbox)
    await started(db, mailbox, kind="deletion", pseudonym=customer(1))  # not verified yet
    assert await needing(db) == [request.id]
    assert await needing(db, shops=("klingit",)) == []
    assert await needing(db, shops=()) == []
    assert await claim(db, request.id)
    assert await needing(db) == []
    async with db.session() as session:
        assert await card_of(session, request.id) is None  # claimed, not posted
        assert await card_at(session, GROUP, 0) is None
        assert await card_posted(session, request.id, 41, now=T0)
    async with db.session() as session:
        card = await card_of(session, request.id)
        assert card is not None and (card.group_chat_id, card.message_id) == (GROUP, 41)
        found = await card_at(session, GROUP, 41)
        assert found is not None and found.request_id == request.id
        assert await card_at(session, GROUP + 1, 41) is None
        # Posted once: a late second "posted" changes nothing.
        assert not await card_posted(session, request.id, 99, now=T0)


async def test_two_claims_at_once_one_wins(db: Database, mailbox: ConsoleMailbox) -> None:
    request = await verified(db, mailbox)
    results = await asyncio.gather(*(claim(db, request.id) for _ in range(4)))
    assert sorted(results) == [False, False, False, True]
    async with db.session() as session:
        assert len((await session.exec(select(RequestCard))).all()) == 1


async def test_a_dead_claim_is_taken_over_after_its_lease(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await verified(db, mailbox)
    assert await claim(db, request.id, now=T0)
    later = T0 + CLAIM_LEASE - MINUTE
    assert await needing(db, now=later) == []
    assert not await claim(db, request.id, now=later)
    expired = T0 + CLAIM_LEASE + MINUTE
    assert await needing(db, now=expired) == [request.id]
    assert await claim(db, request.id, now=expired)
    assert not await claim(db, request.id, now=expired)


async def test_a_released_claim_is_tried_again(db: Database, mailbox: ConsoleMailbox) -> None:
    request = await verified(db, mailbox)
    assert await claim(db, request.id)
    async with db.session() as session:
        await release_claim(session, request.id)
    assert await needing(db) == [request.id]


async def test_a_request_closed_before_its_card_needs_none(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    request = await verified(db, mailbox)
    async with db.session() as session:
        found = await get_request(session, SHOP, request.id)
        await deny(session, found, "other", "No.", now=T0)
    assert await needing(db) == []


async def test_cards_of_requests_changed_since(db: Database, mailbox: ConsoleMailbox) -> None:
    first = await verified(db, mailbox)
    second = await verified(db, mailbox, kind="deletion", pseudonym=customer(2))
    for number, request in enumerate((first, second), start=1):
        assert await claim(db, request.id)
        async with db.session() as session:
            await card_posted(session, request.id, number, now=T0)
    async with db.session() as session:
        assert await cards_changed_since(session, T0) == []
        found = await get_request(session, SHOP, second.id)
        await start_work(session, found, now=T0 + MINUTE)
    async with db.session() as session:
        changed = await cards_changed_since(session, T0)
    assert [(card.message_id, request.status) for card, request in changed] == [(2, "in_progress")]


async def test_the_digest_lists_overdue_and_due_soon_most_urgent_first(
    db: Database, mailbox: ConsoleMailbox
) -> None:
    due_first = await verified(db, mailbox, now=T0 - timedelta(days=40), pseudonym=customer(1))
    due_soon = await verified(db, mailbox, kind="deletion", pseudonym=customer(2))
    await verified(db, mailbox, pseudonym=customer(3), deadline_months=3)  # far off
    closed = await verified(
        db, mailbox, now=T0 - timedelta(days=40), kind="deletion", pseudonym=customer(4)
    )
    async with db.session() as session:
        await deny(session, await get_request(session, SHOP, closed.id), "other", "No.", now=T0)
    now = add_months(T0, 1) - timedelta(days=3)
    async with db.session() as session:
        found = await digest_requests(session, SHOP, now=now, within=timedelta(days=7))
        assert await digest_requests(session, "klingit", now=now, within=timedelta(days=7)) == []
    assert [request.id for request in found] == [due_first.id, due_soon.id]
    overdue, soon = split_by_deadline(found, now)
    assert [r.id for r in overdue] == [due_first.id]
    assert [r.id for r in soon] == [due_soon.id]


async def test_one_digest_leader_at_a_time_on_postgresql(db: Database) -> None:
    first, second = DigestLeadership(db), DigestLeadership(db)
    try:
        assert await first.leads()
        if db.engine.dialect.name == "sqlite":
            # No lock there: every process leads (a deployment on SQLite runs one).
            assert await second.leads()
            return
        assert not await second.leads()
        assert await first.leads()  # still, on its own connection
        await first.release()
        assert await second.leads()
        assert not await first.leads()
    finally:
        await first.release()
        await second.release()
