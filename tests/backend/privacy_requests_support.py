"""What the privacy-request tests share: the rules, a mailbox on the console sink, and a
`db` whose privacy-request tables are empty on PostgreSQL too."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.database import Database
from backend.models import PrivacyRequest
from backend.privacy_requests import (
    ConsoleMailSender,
    RequestRules,
    complete,
    mail_code,
    start_request,
    verify_code,
)
from backend.privacy_requests.exports import ExportPolicy, attach_export
from backend.privacy_requests.fulfilment import SystemOutcome
from backend.privacy_requests.lifecycle import RequestKind
from backend.pseudonyms import pseudonym_for

KEY = b"s" * 32
RULES = RequestRules(server_key=KEY)
ALICE = pseudonym_for(2001, KEY)
BOB = pseudonym_for(2002, KEY)
SHOP = "webstore"
T0 = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
CODE = re.compile(r"code: (\d{6})")


class ConsoleMailbox:
    """The console mail sink writing into a buffer the test reads codes from."""

    def __init__(self) -> None:
        self.output = io.StringIO()
        self.sender = ConsoleMailSender(self.output)

    def codes(self) -> list[str]:
        return CODE.findall(self.output.getvalue())

    def last_code(self) -> str:
        return self.codes()[-1]


async def started(
    db: Database,
    mailbox: ConsoleMailbox,
    *,
    kind: RequestKind = "access",
    pseudonym: str = ALICE,
    email: str = "anna@example.org",
    now: datetime = T0,
    rules: RequestRules = RULES,
) -> PrivacyRequest:
    async with db.session() as session:
        begun = await start_request(session, SHOP, kind, pseudonym, email, rules=rules, now=now)
    if begun.code_mail is not None:
        await mail_code(db, mailbox.sender, begun.code_mail, now=now)
    return begun.request


async def verified(
    db: Database,
    mailbox: ConsoleMailbox,
    *,
    kind: RequestKind = "access",
    pseudonym: str = ALICE,
    email: str = "anna@example.org",
    now: datetime = T0,
    deadline_months: int | None = None,
) -> PrivacyRequest:
    request = await started(db, mailbox, kind=kind, pseudonym=pseudonym, email=email, now=now)
    async with db.session() as session:
        result = await verify_code(
            session,
            request.id,
            pseudonym,
            mailbox.last_code(),
            rules=RULES,
            deadline_months=deadline_months,
            now=now,
        )
    assert result.outcome == "verified"
    return result.request


async def finish(session: AsyncSession, request: PrivacyRequest, *, now: datetime) -> None:
    """Complete `request` the way its kind needs: an access request with its export, a
    deletion with what the shop's one system did."""
    if request.kind == "access":
        await attach_export(
            session,
            request,
            "export.json",
            "application/json",
            b'{"orders": []}',
            policy=ExportPolicy(),
            now=now,
        )
    outcomes = [SystemOutcome("shop", "erased")] if request.kind == "deletion" else []
    await complete(session, request, outcomes=outcomes, now=now)
