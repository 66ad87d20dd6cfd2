"""E-mail one-time codes over real SMTP: a server (aiosmtpd) on loopback receives the
mail, and the test reads the code from it as the customer would."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from backend.database import Database
from backend.models import AuditEvent, PrivacyRequest, VerificationChallenge
from backend.privacy_requests import (
    CodeSendLimitError,
    NotAwaitingVerificationError,
    RequestNotFoundError,
    ResendTooSoonError,
    SmtpMailSender,
    mail_code,
    resend_code,
    start_request,
    verify_code,
)
from tests.backend.privacy_requests_support import (
    ALICE,
    BOB,
    RULES,
    SHOP,
    T0,
)
from tests.support.mail_server import Mailbox

EMAIL = "Anna.Novak@Example.org"


async def start(db: Database, smtp: SmtpMailSender) -> str:
    async with db.session() as session:
        begun = await start_request(session, SHOP, "deletion", ALICE, EMAIL, rules=RULES, now=T0)
    assert begun.code_mail is not None
    await mail_code(db, smtp, begun.code_mail, now=T0)
    return begun.request.id


async def resend(
    db: Database, smtp: SmtpMailSender, request_id: str, *, now: datetime, email: str = EMAIL
) -> None:
    async with db.session() as session:
        code_mail = await resend_code(session, request_id, ALICE, email, rules=RULES, now=now)
    await mail_code(db, smtp, code_mail, now=now)


async def test_the_right_code_from_the_mail_verifies(
    db: Database, smtp: SmtpMailSender, inbox: Mailbox
) -> None:
    request_id = await start(db, smtp)
    recipients, message = inbox.recipients[-1], inbox.messages[-1]
    assert recipients == ["anna.novak@example.org"]
    assert message["From"] == "privacy@shop.test"
    code = inbox.last_code()
    async with db.session() as session:
        challenge = await session.get(VerificationChallenge, request_id)
        assert challenge is not None and code not in challenge.code_hash
        result = await verify_code(
            session, request_id, ALICE, code, rules=RULES, now=T0 + timedelta(minutes=3)
        )
    assert (result.outcome, result.request.status) == ("verified", "verified")
    assert result.request.due_at is not None
    async with db.session() as session:
        assert await session.get(VerificationChallenge, request_id) is None
        with pytest.raises(NotAwaitingVerificationError):
            await verify_code(session, request_id, ALICE, code, rules=RULES)


async def test_five_wrong_codes_lock_the_request(
    db: Database, smtp: SmtpMailSender, inbox: Mailbox
) -> None:
    request_id = await start(db, smtp)
    right = inbox.last_code()
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    outcomes = []
    for attempt in range(5):
        async with db.session() as session:
            result = await verify_code(
                session, request_id, ALICE, wrong, rules=RULES, now=T0 + timedelta(seconds=attempt)
            )
            outcomes.append((result.outcome, result.tries_left))
    assert outcomes == [
        ("wrong_code", 4),
        ("wrong_code", 3),
        ("wrong_code", 2),
        ("wrong_code", 1),
        ("locked", 0),
    ]
    async with db.session() as session:
        result = await verify_code(session, request_id, ALICE, right, rules=RULES, now=T0)
        assert (result.outcome, result.request.status) == ("locked", "identity_pending")
        actions = (await session.exec(select(AuditEvent.action))).all()
    assert "verification_locked" in actions


async def test_a_typo_costs_no_try(db: Database, smtp: SmtpMailSender, inbox: Mailbox) -> None:
    request_id = await start(db, smtp)
    async with db.session() as session:
        result = await verify_code(session, request_id, ALICE, "12a45", rules=RULES, now=T0)
    assert (result.outcome, result.tries_left) == ("malformed", 5)
    async with db.session() as session:
        spaced = f"{inbox.last_code()[:3]} {inbox.last_code()[3:]}"
        result = await verify_code(session, request_id, ALICE, spaced, rules=RULES, now=T0)
    assert result.outcome == "verified"


async def test_guesses_at_the_same_moment_get_no_extra_tries(
    db: Database, smtp: SmtpMailSender, inbox: Mailbox
) -> None:
    request_id = await start(db, smtp)
    wrong = f"{(int(inbox.last_code()) + 1) % 1_000_000:06d}"

    async def guess() -> str:
        async with db.session() as session:
            result = await verify_code(session, request_id, ALICE, wrong, rules=RULES, now=T0)
            return result.outcome

    await asyncio.gather(*(guess() for _ in range(8)), return_exceptions=True)
    async with db.session() as session:
        challenge = await session.get(VerificationChallenge, request_id)
    assert challenge is not None and challenge.attempts == 5 and challenge.locked


async def test_an_expired_code_is_refused(
    db: Database, smtp: SmtpMailSender, inbox: Mailbox
) -> None:
    request_id = await start(db, smtp)
    async with db.session() as session:
        result = await verify_code(
            session,
            request_id,
            ALICE,
            inbox.last_code(),
            rules=RULES,
            now=T0 + timedelta(minutes=10),
        )
    assert (result.outcome, result.request.status) == ("expired", "identity_pending")


async def test_a_new_code_only_after_the_cooldown_and_the_old_one_stops_working(
    db: Database, smtp: SmtpMailSender, inbox: Mailbox
) -> None:
    request_id = await start(db, smtp)
    first = inbox.last_code()
    with pytest.raises(ResendTooSoonError) as raised:
        await resend(db, smtp, request_id, now=T0 + timedelta(seconds=45))
    assert raised.value.retry_after_seconds == 15
    assert len(inbox.messages) == 1
    await resend(db, smtp, request_id, now=T0 + timedelta(seconds=60), email=EMAIL.lower())
    assert len(inbox.messages) == 2
    second = inbox.last_code()
    later = T0 + timedelta(minutes=2)
    if first != second:
        async with db.session() as session:
            result = await verify_code(session, request_id, ALICE, first, rules=RULES, now=later)
        assert result.outcome == "wrong_code"
    async with db.session() as session:
        result = await verify_code(session, request_id, ALICE, second, rules=RULES, now=later)
    assert result.outcome == "verified"


async def test_codes_stop_after_the_send_limit(db: Database, smtp: SmtpMailSender) -> None:
    request_id = await start(db, smtp)
    for sent in range(1, RULES.code_max_sends):
        await resend(db, smtp, request_id, now=T0 + timedelta(minutes=sent))
    with pytest.raises(CodeSendLimitError):
        await resend(db, smtp, request_id, now=T0 + timedelta(hours=1))


async def test_someone_elses_request_is_not_found(
    db: Database, smtp: SmtpMailSender, inbox: Mailbox
) -> None:
    request_id = await start(db, smtp)
    async with db.session() as session:
        with pytest.raises(RequestNotFoundError) as other:
            await verify_code(session, request_id, BOB, inbox.last_code(), rules=RULES, now=T0)
        with pytest.raises(RequestNotFoundError) as missing:
            await verify_code(session, "pr_" + "0" * 24, BOB, "000000", rules=RULES, now=T0)
        with pytest.raises(RequestNotFoundError):
            await resend_code(session, request_id, BOB, EMAIL, rules=RULES)
    # The same answer whether the request exists or not.
    assert str(other.value).replace(request_id, "ID") == str(missing.value).replace(
        "pr_" + "0" * 24, "ID"
    )
    async with db.session() as session:
        challenge = await session.get(VerificationChallenge, request_id)
        assert challenge is not None and challenge.attempts == 0


async def test_starting_again_after_a_lock_gives_a_new_request(
    db: Database, smtp: SmtpMailSender, inbox: Mailbox
) -> None:
    locked_id = await start(db, smtp)
    wrong = f"{(int(inbox.last_code()) + 1) % 1_000_000:06d}"
    for attempt in range(5):
        async with db.session() as session:
            await verify_code(
                session, locked_id, ALICE, wrong, rules=RULES, now=T0 + timedelta(seconds=attempt)
            )
    async with db.session() as session:
        begun = await start_request(
            session, SHOP, "deletion", ALICE, EMAIL, rules=RULES, now=T0 + timedelta(minutes=2)
        )
        fresh = begun.request
        assert fresh.id != locked_id
        old = await session.get(PrivacyRequest, locked_id)
        assert old is not None and old.status == "canceled"
    assert begun.code_mail is not None
    await mail_code(db, smtp, begun.code_mail)
    async with db.session() as session:
        result = await verify_code(
            session,
            fresh.id,
            ALICE,
            inbox.last_code(),
            rules=RULES,
            now=T0 + timedelta(minutes=3),
        )
    assert result.outcome == "verified"
