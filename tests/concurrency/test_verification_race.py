"""Twenty parallel correct codes for one request (issue 12, defect 9): one verifies, the
others are told it is already verified, and the audit trail has one verification. Likewise
twenty parallel starts of one customer's request, and twenty parallel new codes."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import col, select

from backend.database import Database
from backend.models import AuditEvent, OutboxEvent, PrivacyRequest, VerificationChallenge
from backend.privacy_requests.errors import NotAwaitingVerificationError, ResendTooSoonError
from backend.privacy_requests.intake import (
    StartedRequest,
    resend_code,
    start_request,
    verify_code,
)
from backend.webhooks.events import REQUEST_CREATED
from tests.backend.privacy_requests_support import (
    ALICE,
    RULES,
    SHOP,
    T0,
    ConsoleMailbox,
    started,
)

pytestmark = pytest.mark.postgres


async def test_parallel_correct_codes_verify_once(pg: Database, mailbox: ConsoleMailbox) -> None:
    request = await started(pg, mailbox)
    code = mailbox.last_code()

    async def attempt() -> str:
        try:
            async with pg.session() as session:
                result = await verify_code(session, request.id, ALICE, code, rules=RULES, now=T0)
                return result.outcome
        except NotAwaitingVerificationError:
            return "already"

    outcomes = await asyncio.gather(*(attempt() for _ in range(20)))
    assert outcomes.count("verified") == 1, outcomes
    assert set(outcomes) <= {"verified", "already"}, outcomes
    async with pg.session() as session:
        stored = await session.get(PrivacyRequest, request.id)
        assert stored is not None and stored.status == "verified"
        events = (
            await session.exec(select(AuditEvent).where(col(AuditEvent.request_id) == request.id))
        ).all()
    assert [e.to_status for e in events].count("verified") == 1


async def test_parallel_starts_of_one_customer_make_one_request(pg: Database) -> None:
    """The same address sent many times at once (whatever runs the chat): one request and
    one code; the other starts find it and merge into it."""

    async def begin() -> StartedRequest:
        async with pg.session() as session:
            return await start_request(
                session, SHOP, "deletion", ALICE, "anna@example.org", rules=RULES, now=T0
            )

    started = await asyncio.gather(*(begin() for _ in range(20)))
    assert len({begun.request.id for begun in started}) == 1
    assert sum(begun.code_mail is not None for begun in started) == 1
    async with pg.session() as session:
        assert len((await session.exec(select(PrivacyRequest))).all()) == 1
        types = (await session.exec(select(OutboxEvent.type))).all()
    assert types == [REQUEST_CREATED]


async def test_parallel_resends_send_one_code(pg: Database, mailbox: ConsoleMailbox) -> None:
    request = await started(pg, mailbox)
    later = T0 + RULES.code_resend_cooldown

    async def resend() -> str:
        try:
            async with pg.session() as session:
                await resend_code(
                    session, request.id, ALICE, "anna@example.org", rules=RULES, now=later
                )
        except ResendTooSoonError:
            return "too soon"
        return "sent"

    outcomes = await asyncio.gather(*(resend() for _ in range(20)))
    assert sorted(outcomes) == ["sent"] + ["too soon"] * 19
    async with pg.session() as session:
        challenge = await session.get(VerificationChallenge, request.id)
        events = (
            await session.exec(select(AuditEvent).where(col(AuditEvent.request_id) == request.id))
        ).all()
    assert challenge is not None and (challenge.sends, challenge.last_sent_at) == (2, later)
    assert [e.action for e in events].count("code_sent") == 2
