"""The verification mail goes out after its transaction has committed, over real SMTP
(aiosmtpd on loopback), on SQLite and PostgreSQL: a mail server that refuses the code or
cannot be reached leaves nothing open behind, and one that holds the mail holds no
database while it does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlmodel import col, select

from backend.database import Database
from backend.models import (
    AuditEvent,
    CustomerNotice,
    OutboxEvent,
    PrivacyRequest,
    VerificationChallenge,
)
from backend.privacy_requests import (
    MailNotSentError,
    RequestRules,
    SmtpMailSender,
    SmtpSettings,
    mail_code,
    resend_code,
    start_request,
    verify_code,
)
from backend.privacy_requests.hashing import code_hash
from backend.webhooks.events import REQUEST_CANCELED, REQUEST_CREATED
from tests.backend.api_support import Api, running_api
from tests.backend.privacy_requests_support import ALICE, BOB, KEY, RULES, SHOP, T0
from tests.support.mail_server import Mailbox, free_port

EMAIL = "anna@example.org"
REFUSALS = {
    "451": "451 4.3.0 Try again later",
    "554": "554 5.7.1 Message refused",
}


async def start(
    db: Database,
    mail: SmtpMailSender,
    *,
    pseudonym: str = ALICE,
    email: str = EMAIL,
    now: datetime = T0,
    rules: RequestRules = RULES,
) -> str:
    """Start a request and mail its code after the commit, as the chat does."""
    async with db.session() as session:
        begun = await start_request(session, SHOP, "access", pseudonym, email, rules=rules, now=now)
    assert begun.code_mail is not None
    await mail_code(db, mail, begun.code_mail, now=now)
    return begun.request.id


async def resend(db: Database, mail: SmtpMailSender, request_id: str, *, now: datetime) -> None:
    async with db.session() as session:
        code_mail = await resend_code(session, request_id, ALICE, EMAIL, rules=RULES, now=now)
    await mail_code(db, mail, code_mail, now=now)


async def last_code_verifies(db: Database, inbox: Mailbox, request_id: str) -> bool:
    async with db.session() as session:
        result = await verify_code(
            session,
            request_id,
            ALICE,
            inbox.last_code(),
            rules=RULES,
            now=T0 + timedelta(minutes=2),
        )
    return result.outcome == "verified"


async def only_request(db: Database) -> PrivacyRequest:
    async with db.session() as session:
        [request] = (await session.exec(select(PrivacyRequest))).all()
    return request


async def trail(db: Database, request_id: str) -> list[tuple[str, str | None]]:
    async with db.session() as session:
        events = await session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.request_id) == request_id)
            .order_by(col(AuditEvent.id))
        )
        return [(event.action, event.to_status) for event in events]


async def outbox(db: Database) -> list[tuple[str, str]]:
    async with db.session() as session:
        events = await session.exec(select(OutboxEvent).order_by(col(OutboxEvent.created_at)))
        return [(event.type, event.payload["request_id"]) for event in events]


def unreachable() -> SmtpMailSender:
    return SmtpMailSender(SmtpSettings(host="127.0.0.1", port=free_port(), security="none"))


@pytest.mark.parametrize("failure", [*REFUSALS, "unreachable"])
async def test_a_first_code_the_mail_server_does_not_take_leaves_nothing_open(
    db: Database, smtp: SmtpMailSender, inbox: Mailbox, failure: str
) -> None:
    if failure == "unreachable":
        mail = unreachable()
    else:
        inbox.refuse(REFUSALS[failure])
        mail = smtp
    with pytest.raises(MailNotSentError) as raised:
        await start(db, mail)
    assert "example.org" not in str(raised.value).lower()
    # The request is withdrawn, not left waiting for a code nobody received: the shop,
    # told it was created, is told it is canceled, and the trail says why.
    request = await only_request(db)
    assert request.status == "canceled" and request.closed_at is not None
    assert await trail(db, request.id) == [
        ("created", "identity_pending"),
        ("code_sent", None),
        ("code_mail_failed", "canceled"),
    ]
    assert await outbox(db) == [(REQUEST_CREATED, request.id), (REQUEST_CANCELED, request.id)]
    async with db.session() as session:
        assert await session.get(VerificationChallenge, request.id) is None
        # The chat that tried tells the customer; no notice tells them again.
        assert (await session.exec(select(CustomerNotice))).all() == []
    assert inbox.messages == []


async def test_a_withdrawn_request_costs_the_customer_nothing(
    db: Database, smtp: SmtpMailSender, inbox: Mailbox
) -> None:
    one_request = RequestRules(server_key=KEY, request_limit=1)
    inbox.refuse(REFUSALS["451"])
    with pytest.raises(MailNotSentError):
        await start(db, smtp, rules=one_request)
    inbox.refuse(None)
    # Not counted against the limit of one request, and not merged into: a fresh request.
    request_id = await start(db, smtp, rules=one_request, now=T0 + timedelta(minutes=1))
    assert await last_code_verifies(db, inbox, request_id)


@pytest.mark.parametrize("failure", [*REFUSALS, "unreachable"])
async def test_a_new_code_the_mail_server_does_not_take_gives_the_old_one_back(
    db: Database, smtp: SmtpMailSender, inbox: Mailbox, failure: str
) -> None:
    request_id = await start(db, smtp)
    first = inbox.last_code()
    if failure == "unreachable":
        mail = unreachable()
    else:
        inbox.refuse(REFUSALS[failure])
        mail = smtp
    with pytest.raises(MailNotSentError):
        await resend(db, mail, request_id, now=T0 + timedelta(minutes=1))
    async with db.session() as session:
        challenge = await session.get(VerificationChallenge, request_id)
    assert challenge is not None
    # As before the send: the first code, its validity, one send, the cooldown from T0.
    assert challenge.code_hash == code_hash(KEY, request_id, first)
    assert (challenge.sends, challenge.last_sent_at) == (1, T0)
    assert challenge.expires_at == T0 + RULES.code_ttl
    assert await trail(db, request_id) == [
        ("created", "identity_pending"),
        ("code_sent", None),
        ("code_sent", None),
        ("code_mail_failed", None),
    ]
    assert (await only_request(db)).status == "identity_pending"
    assert await outbox(db) == [(REQUEST_CREATED, request_id)]
    # The customer can try again at once (the cooldown counts from the code they have).
    inbox.refuse(None)
    await resend(db, smtp, request_id, now=T0 + timedelta(minutes=1, seconds=1))
    assert await last_code_verifies(db, inbox, request_id)


@pytest.fixture
async def api(db: Database) -> AsyncIterator[Api]:
    async with running_api(db) as running:
        yield running


@pytest.mark.parametrize("send", ["first", "new"])
async def test_a_mail_server_holding_the_code_holds_no_database(
    api: Api, smtp: SmtpMailSender, inbox: Mailbox, send: str
) -> None:
    """While the mail server keeps the code's message, the database serves everyone else:
    the shop's API, another customer's start, and a code typed for the same request (which
    locks its row and counts a try) all finish before the server lets the message go."""
    db = api.database
    earlier = await start(db, smtp) if send == "new" else None
    inbox.hold()
    async with db.session() as session:
        if earlier is None:
            code_mail = (
                await start_request(session, SHOP, "access", ALICE, EMAIL, rules=RULES, now=T0)
            ).code_mail
        else:
            later = T0 + timedelta(minutes=1)
            code_mail = await resend_code(session, earlier, ALICE, EMAIL, rules=RULES, now=later)
    assert code_mail is not None
    sending = asyncio.create_task(mail_code(db, smtp, code_mail))
    await inbox.holding()

    status, listing, _ = await api.call("GET", "/api/v1/requests")
    assert status == 200 and [item["id"] for item in listing["items"]] == [code_mail.request_id]
    async with db.session() as session:
        other = await start_request(session, SHOP, "deletion", BOB, "bob@example.org", rules=RULES)
    assert other.code_mail is not None
    wrong = f"{(int(code_mail.code) + 1) % 1_000_000:06d}"
    async with db.session() as session:
        typed = await verify_code(session, code_mail.request_id, ALICE, wrong, rules=RULES, now=T0)
    assert typed.outcome == "wrong_code"
    assert not sending.done()  # the message is still held: all of the above went past it

    inbox.release()
    await sending
    assert inbox.last_code() == code_mail.code
