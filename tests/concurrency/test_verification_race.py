"""Twenty parallel correct codes for one request (issue 12, defect 9): one verifies, the
others are told it is already verified, and the audit trail has one verification."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import col, select

from backend.database import Database
from backend.models import AuditEvent, PrivacyRequest
from backend.privacy_requests.errors import NotAwaitingVerificationError
from backend.privacy_requests.intake import verify_code
from tests.backend.privacy_requests_support import ALICE, RULES, T0, ConsoleMailbox, started

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
