"""E-mail one-time codes: six digits, kept only as a keyed hash, valid for a few minutes,
a few tries per request, compared in constant time.

A code is issued in the caller's transaction and mailed after it has committed: no
transaction waits for a mail server. A send that fails is taken back in a short
transaction of its own (`withdraw_code`)."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.database import Database
from backend.models import PrivacyRequest, VerificationChallenge, utc_now
from backend.privacy_requests.errors import (
    CodeSendLimitError,
    NotAwaitingVerificationError,
    ResendTooSoonError,
)
from backend.privacy_requests.hashing import code_hash
from backend.privacy_requests.lifecycle import record_event, transition
from backend.privacy_requests.mail import MailSender, code_message
from backend.privacy_requests.settings import RequestRules

CODE_DIGITS = 6
# The audit action of a code whose mail the mail server did not take.
CODE_MAIL_FAILED = "code_mail_failed"

CodeOutcome = Literal["correct", "wrong", "malformed", "expired", "locked"]


@dataclass(frozen=True)
class CodeCheck:
    outcome: CodeOutcome
    tries_left: int


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


@dataclass(frozen=True)
class ChallengeState:
    """What sending a code changes in a request's challenge."""

    code_hash: str
    expires_at: datetime
    last_sent_at: datetime
    sends: int

    @classmethod
    def of(cls, challenge: VerificationChallenge) -> ChallengeState:
        return cls(
            challenge.code_hash, challenge.expires_at, challenge.last_sent_at, challenge.sends
        )


@dataclass(frozen=True)
class CodeMail:
    """A code issued in a transaction, to be mailed once that transaction has committed
    (`mail_code`): a slow mail server must not hold the database. The plaintext code and
    the address live only here, in memory, never in the database or a log."""

    request_id: str
    to: str = field(repr=False)
    code: str = field(repr=False)
    shop: str
    valid_minutes: int
    language: str | None
    # The hash this send stored (to recognise its challenge later), and the challenge as it
    # was before (None: the request's first code): what a failed send gives back.
    issued_hash: str = field(repr=False)
    before: ChallengeState | None = field(repr=False)

    def message(self, sender: str) -> EmailMessage:
        return code_message(
            to=self.to,
            sender=sender,
            shop=self.shop,
            code=self.code,
            valid_minutes=self.valid_minutes,
            language=self.language,
        )


async def issue_code(
    session: AsyncSession,
    request: PrivacyRequest,
    address: str,
    *,
    rules: RequestRules,
    now: datetime,
    language: str | None = None,
    shop_name: str | None = None,
) -> CodeMail:
    """A new code for `request`, replacing any earlier one; the mail that carries it to
    `address` is the caller's to send after the commit (`mail_code`).

    ResendTooSoonError within the cooldown, CodeSendLimitError after the last send allowed.
    """
    challenge = await session.get(VerificationChallenge, request.id)
    code = new_code()
    hashed = code_hash(rules.server_key, request.id, code)
    before = None
    if challenge is None:
        challenge = VerificationChallenge(
            request_id=request.id, code_hash=hashed, expires_at=now, last_sent_at=now
        )
        session.add(challenge)
    else:
        waited = now - challenge.last_sent_at
        if waited < rules.code_resend_cooldown:
            remaining = rules.code_resend_cooldown - waited
            raise ResendTooSoonError(max(1, int(remaining.total_seconds() + 0.999)))
        if challenge.sends >= rules.code_max_sends:
            raise CodeSendLimitError(request.id)
        before = ChallengeState.of(challenge)
        challenge.code_hash = hashed
    challenge.expires_at = now + rules.code_ttl
    challenge.last_sent_at = now
    challenge.sends += 1
    await record_event(
        session,
        request,
        actor="system",
        action="code_sent",
        now=now,
        detail={"sends": challenge.sends},
    )
    return CodeMail(
        request_id=request.id,
        to=address,
        code=code,
        shop=shop_name or request.shop_id,
        valid_minutes=int(rules.code_ttl.total_seconds() // 60),
        language=language,
        issued_hash=hashed,
        before=before,
    )


async def mail_code(
    database: Database, mail: MailSender, code_mail: CodeMail, *, now: datetime | None = None
) -> None:
    """Send the code issued (and committed) before, with no transaction open.

    If the send fails, a short transaction of its own takes back what it was for
    (`withdraw_code`) and the error is raised again (MailNotSentError from the mail server),
    so that nothing half-done stays behind.
    """
    try:
        await mail.send(code_mail.message(mail.from_address))
    except BaseException:
        async with database.session() as session:
            await withdraw_code(session, code_mail, now=now or utc_now())
        raise


async def withdraw_code(session: AsyncSession, code_mail: CodeMail, *, now: datetime) -> None:
    """The code of `code_mail` never reached the customer: a request's first code takes the
    request with it (canceled, so the shop hears the request is gone), a later one gives
    back the earlier code, its validity, the send and the cooldown, so that the customer
    can simply try again. Either way the audit trail says `code_mail_failed`.

    Only what is still as the send left it is undone: a newer code is left alone.
    """
    request = await session.get(
        PrivacyRequest, code_mail.request_id, with_for_update=True, populate_existing=True
    )
    if request is None:  # purged meanwhile: nothing is left to undo
        return
    challenge = await session.get(VerificationChallenge, request.id, populate_existing=True)
    ours = challenge is not None and challenge.code_hash == code_mail.issued_hash
    if code_mail.before is None and request.status == "identity_pending" and ours:
        await session.delete(challenge)
        # The customer is told by whoever tried to send (the chat flow): no notice.
        await transition(
            session,
            request,
            "canceled",
            actor="system",
            action=CODE_MAIL_FAILED,
            now=now,
            tell_customer=False,
        )
        return
    if ours and code_mail.before is not None:
        assert challenge is not None
        previous = code_mail.before
        challenge.code_hash = previous.code_hash
        challenge.expires_at = previous.expires_at
        challenge.last_sent_at = previous.last_sent_at
        challenge.sends = previous.sends
    await record_event(
        session,
        request,
        actor="system",
        action=CODE_MAIL_FAILED,
        now=now,
        detail={"sends": challenge.sends if challenge is not None else 0},
    )


async def check_code(
    session: AsyncSession,
    request: PrivacyRequest,
    code: str,
    *,
    rules: RequestRules,
    now: datetime,
) -> CodeCheck:
    """Check `code` against the one sent for `request`, using up one try.

    The outcome is returned, not raised, so that the used try is committed with the rest.
    """
    challenge = await session.get(VerificationChallenge, request.id)
    if challenge is None:
        return CodeCheck("expired", 0)
    if challenge.locked:
        return CodeCheck("locked", 0)
    typed = "".join(code.split())  # "123 456" as some mail clients show it
    if len(typed) != CODE_DIGITS or not typed.isascii() or not typed.isdigit():
        # Cannot match, so it tells an attacker nothing; a typo should not cost a try.
        return CodeCheck("malformed", rules.code_max_attempts - challenge.attempts)
    if now >= challenge.expires_at:
        return CodeCheck("expired", rules.code_max_attempts - challenge.attempts)
    # Counted in the database, conditionally, so that guesses sent at the same moment
    # cannot together get more tries than allowed. RETURNING, not a refresh: a concurrent
    # right code may have deleted the challenge meanwhile, and then there is nothing to read.
    used = await session.exec(
        update(VerificationChallenge)
        .where(col(VerificationChallenge.request_id) == request.id)
        .where(col(VerificationChallenge.attempts) < rules.code_max_attempts)
        .where(col(VerificationChallenge.locked).is_(False))
        .values(attempts=col(VerificationChallenge.attempts) + 1)
        .returning(col(VerificationChallenge.attempts))
        .execution_options(synchronize_session=False)
    )
    attempts = used.scalar_one_or_none()
    if attempts is None:
        status = await session.scalar(
            select(col(PrivacyRequest.status)).where(col(PrivacyRequest.id) == request.id)
        )
        if status != "identity_pending":
            # Another tap of the same code verified it a moment ago.
            raise NotAwaitingVerificationError(request.id, str(status))
        return CodeCheck("locked", 0)
    set_committed_value(challenge, "attempts", attempts)
    tries_left = rules.code_max_attempts - attempts
    expected = code_hash(rules.server_key, request.id, typed)
    if hmac.compare_digest(expected, challenge.code_hash):
        await session.delete(challenge)
        return CodeCheck("correct", tries_left)
    if tries_left == 0:
        challenge.locked = True
        await record_event(
            session,
            request,
            actor="system",
            action="verification_locked",
            now=now,
            detail={"attempts": challenge.attempts},
        )
        return CodeCheck("locked", 0)
    return CodeCheck("wrong", tries_left)
