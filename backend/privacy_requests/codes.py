"""E-mail one-time codes: six digits, kept only as a keyed hash, valid for a few minutes,
a few tries per request, compared in constant time."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import PrivacyRequest, VerificationChallenge
from backend.privacy_requests.errors import (
    CodeSendLimitError,
    NotAwaitingVerificationError,
    ResendTooSoonError,
)
from backend.privacy_requests.hashing import code_hash
from backend.privacy_requests.lifecycle import record_event
from backend.privacy_requests.mail import MailSender, code_message
from backend.privacy_requests.settings import RequestRules

CODE_DIGITS = 6

CodeOutcome = Literal["correct", "wrong", "malformed", "expired", "locked"]


@dataclass(frozen=True)
class CodeCheck:
    outcome: CodeOutcome
    tries_left: int


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


async def send_code(
    session: AsyncSession,
    request: PrivacyRequest,
    address: str,
    *,
    rules: RequestRules,
    mail: MailSender,
    now: datetime,
    language: str | None = None,
    shop_name: str | None = None,
) -> None:
    """Send a new code for `request` to `address`, replacing any earlier one.

    The mail goes out last, after everything is written but before the commit: if it
    fails, the caller's unit of work rolls back and nothing is left behind.
    """
    challenge = await session.get(VerificationChallenge, request.id)
    code = new_code()
    hashed = code_hash(rules.server_key, request.id, code)
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
    await mail.send(
        code_message(
            to=address,
            sender=mail.from_address,
            shop=shop_name or request.shop_id,
            code=code,
            valid_minutes=int(rules.code_ttl.total_seconds() // 60),
            language=language,
        )
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
