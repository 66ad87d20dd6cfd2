"""How a customer starts a privacy request and proves the e-mail address it is for, and
what they may see of their requests afterwards.

A request is bound to the pseudonym that started it: any lookup with another pseudonym
finds nothing, exactly as if the request did not exist.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import exists, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.database import lock_for_transaction
from backend.models import AuditEvent, PrivacyRequest, VerificationChallenge, utc_now
from backend.privacy_requests.codes import CODE_MAIL_FAILED, CodeMail, check_code, issue_code
from backend.privacy_requests.deadlines import iso, set_deadlines
from backend.privacy_requests.errors import (
    InvalidRequestError,
    NotAwaitingVerificationError,
    RequestLimitError,
    RequestNotFoundError,
)
from backend.privacy_requests.hashing import email_hash, normalise_email
from backend.privacy_requests.lifecycle import (
    OPEN_STATUSES,
    Actor,
    RequestKind,
    notify_shop,
    record_event,
    transition,
)
from backend.privacy_requests.sealing import seal
from backend.privacy_requests.settings import RequestRules
from backend.privacy_requests.suppression import suppress
from backend.webhooks.events import MARKETING_UNSUBSCRIBED, REQUEST_CREATED

REQUEST_ID_PREFIX = "pr_"
SHOP_ID_MAX_CHARS = 64

VerificationOutcome = Literal["verified", "wrong_code", "malformed", "expired", "locked"]
VerificationMethod = Literal["email", "shop"]


@dataclass(frozen=True)
class StartedRequest:
    """A request just started (or the open one it merged into), and the mail with its
    code, to send once the transaction has committed (`codes.mail_code`); None when no
    code is due (merged, or the shop verifies the customer itself)."""

    request: PrivacyRequest
    code_mail: CodeMail | None


@dataclass(frozen=True)
class Verification:
    outcome: VerificationOutcome
    request: PrivacyRequest
    tries_left: int


def new_request_id() -> str:
    """A public id that reveals nothing and cannot be guessed: 96 random bits."""
    return REQUEST_ID_PREFIX + secrets.token_hex(12)


async def start_request(
    session: AsyncSession,
    shop_id: str,
    kind: RequestKind,
    pseudonym: str,
    email: str,
    *,
    rules: RequestRules,
    chat_id: int | None = None,
    verification: VerificationMethod = "email",
    language: str | None = None,
    shop_name: str | None = None,
    now: datetime | None = None,
) -> StartedRequest:
    """Start a request awaiting a code for `email`, with the mail that carries the code (to
    send after the commit); or, when this customer has an open request of the same kind
    for this shop already, that request (merged), with no mail.

    With `verification="shop"` no code is issued: the request waits for the shop's backend
    to confirm the customer (`confirm_by_shop`). Status changes are pushed to `chat_id`.

    A pending request for another address is superseded (canceled) by the new one, so that
    a mistyped address never blocks the customer. RequestLimitError when the customer
    started too many requests lately.
    """
    now = now or utc_now()
    _check_kind_and_shop(kind, shop_id)
    if verification not in get_args(VerificationMethod):
        raise InvalidRequestError(f"unknown verification {verification!r}")
    address = normalise_email(email)
    hashed = email_hash(rules.server_key, address)
    # One start of this customer's at this shop at a time: two at once (a message sent
    # twice) would each find no open request and each start one, and pass the limit.
    await lock_for_transaction(session, f"privacy-request-start:{shop_id}:{pseudonym}")

    # Merged only with the caller's own request: returning a request found by the address
    # alone would show one person's request to whoever typed their address.
    existing = (
        await session.exec(
            select(PrivacyRequest)
            .where(col(PrivacyRequest.shop_id) == shop_id)
            .where(col(PrivacyRequest.kind) == kind)
            .where(col(PrivacyRequest.pseudonym) == pseudonym)
            .where(col(PrivacyRequest.status).in_(OPEN_STATUSES))
            .order_by(col(PrivacyRequest.created_at).desc())
        )
    ).first()
    if existing is not None and (
        existing.status != "identity_pending"
        or (existing.email_hash == hashed and not await _locked(session, existing.id))
    ):
        return StartedRequest(existing, None)

    await _check_limit(session, shop_id, pseudonym, hashed, rules=rules, now=now)
    request = _new_request(
        shop_id, kind, address, hashed, rules=rules, pseudonym=pseudonym, now=now
    )
    request.notify_chat_id = chat_id
    request.verification = verification
    request.language = language
    session.add(request)
    await session.flush()
    await record_event(
        session, request, actor="customer", action="created", now=now, to_status=request.status
    )
    await notify_shop(session, request, REQUEST_CREATED, now=now)
    if existing is not None:
        await transition(
            session,
            existing,
            "canceled",
            actor="system",
            action="superseded",
            now=now,
            detail={"superseded_by": request.id},
            tell_customer=False,
        )
    if verification != "email":
        return StartedRequest(request, None)
    code_mail = await issue_code(
        session, request, address, rules=rules, now=now, language=language, shop_name=shop_name
    )
    return StartedRequest(request, code_mail)


async def create_on_behalf(
    session: AsyncSession,
    shop_id: str,
    kind: RequestKind,
    email: str,
    *,
    rules: RequestRules,
    deadline_months: int | None = None,
    now: datetime | None = None,
) -> PrivacyRequest:
    """A request the shop received elsewhere (by mail, by phone) and verified itself: it
    starts verified, with its deadline running. An unsubscribe takes effect at once."""
    now = now or utc_now()
    _check_kind_and_shop(kind, shop_id)
    address = normalise_email(email)
    request = _new_request(
        shop_id, kind, address, email_hash(rules.server_key, address), rules=rules, now=now
    )
    request.verification = "shop"
    session.add(request)
    await session.flush()
    await record_event(
        session, request, actor="shop", action="created", now=now, to_status=request.status
    )
    await notify_shop(session, request, REQUEST_CREATED, now=now)
    await _mark_verified(session, request, deadline_months, actor="shop", rules=rules, now=now)
    return request


async def confirm_by_shop(
    session: AsyncSession,
    request: PrivacyRequest,
    *,
    rules: RequestRules,
    deadline_months: int | None = None,
    now: datetime | None = None,
) -> PrivacyRequest:
    """The shop's backend vouches for the customer of a request waiting for it."""
    now = now or utc_now()
    if request.status != "identity_pending" or request.verification != "shop":
        raise NotAwaitingVerificationError(request.id, request.status)
    await _mark_verified(session, request, deadline_months, actor="shop", rules=rules, now=now)
    return request


def _check_kind_and_shop(kind: str, shop_id: str) -> None:
    if kind not in get_args(RequestKind):
        raise InvalidRequestError(f"unknown kind of request {kind!r}")
    if not shop_id or len(shop_id) > SHOP_ID_MAX_CHARS:
        raise InvalidRequestError("a shop id of 1 to 64 characters is needed")


def _new_request(
    shop_id: str,
    kind: str,
    address: str,
    hashed: str,
    *,
    rules: RequestRules,
    now: datetime,
    pseudonym: str | None = None,
) -> PrivacyRequest:
    request_id = new_request_id()
    return PrivacyRequest(
        id=request_id,
        shop_id=shop_id,
        kind=kind,
        status="identity_pending",
        pseudonym=pseudonym,
        email_hash=hashed,
        email_sealed=seal(rules.server_key, request_id, address),
        created_at=now,
        updated_at=now,
    )


async def _locked(session: AsyncSession, request_id: str) -> bool:
    """A request locked by too many wrong codes can never be verified: a new start by the
    same customer supersedes it instead of merging into it."""
    challenge = await session.get(VerificationChallenge, request_id)
    return challenge is not None and challenge.locked


async def _check_limit(
    session: AsyncSession,
    shop_id: str,
    pseudonym: str,
    hashed_email: str,
    *,
    rules: RequestRules,
    now: datetime,
) -> None:
    # The same person by either handle: a new Telegram account with the same address, or
    # the same account with ever new addresses. A request whose first code the mail server
    # did not take was never the customer's to use: it does not count.
    withdrawn = exists().where(
        col(AuditEvent.request_id) == PrivacyRequest.id,
        col(AuditEvent.action) == CODE_MAIL_FAILED,
        col(AuditEvent.to_status) == "canceled",
    )
    started = await session.scalar(
        select(func.count())
        .select_from(PrivacyRequest)
        .where(col(PrivacyRequest.shop_id) == shop_id)
        .where(
            or_(
                col(PrivacyRequest.pseudonym) == pseudonym,
                col(PrivacyRequest.email_hash) == hashed_email,
            )
        )
        .where(col(PrivacyRequest.created_at) > now - rules.request_limit_period)
        .where(~withdrawn)
    )
    if (started or 0) >= rules.request_limit:
        raise RequestLimitError(rules.request_limit, rules.request_limit_period.days)


async def resend_code(
    session: AsyncSession,
    request_id: str,
    pseudonym: str,
    email: str,
    *,
    rules: RequestRules,
    language: str | None = None,
    shop_name: str | None = None,
    now: datetime | None = None,
) -> CodeMail:
    """A new code for a pending request, and the mail that carries it to the address the
    request was started with (which the customer types again: the address itself is kept
    nowhere), to send after the commit (`codes.mail_code`)."""
    now = now or utc_now()
    # Locked: resends tapped at the same moment see each other's send, and the cooldown.
    request = await get_customer_request(session, pseudonym, request_id, for_update=True)
    if request.status != "identity_pending":
        raise NotAwaitingVerificationError(request.id, request.status)
    address = normalise_email(email)
    if email_hash(rules.server_key, address) != request.email_hash:
        raise InvalidRequestError("not the address this request was started with")
    return await issue_code(
        session, request, address, rules=rules, now=now, language=language, shop_name=shop_name
    )


async def verify_code(
    session: AsyncSession,
    request_id: str,
    pseudonym: str,
    code: str,
    *,
    rules: RequestRules,
    deadline_months: int | None = None,
    now: datetime | None = None,
) -> Verification:
    """Check the code the customer typed; when right, the request is verified and its
    deadline starts (`deadline_months` of the shop, else the rules' default).

    An unsubscribe takes effect at once: the address is suppressed and the request
    completed in the same transaction.
    """
    now = now or utc_now()
    request = await get_customer_request(session, pseudonym, request_id, for_update=True)
    if request.status != "identity_pending":
        raise NotAwaitingVerificationError(request.id, request.status)
    check = await check_code(session, request, code, rules=rules, now=now)
    if check.outcome != "correct":
        outcome: VerificationOutcome = "wrong_code" if check.outcome == "wrong" else check.outcome
        return Verification(outcome, request, check.tries_left)

    await _mark_verified(session, request, deadline_months, actor="customer", rules=rules, now=now)
    return Verification("verified", request, check.tries_left)


async def _mark_verified(
    session: AsyncSession,
    request: PrivacyRequest,
    deadline_months: int | None,
    *,
    actor: Actor,
    rules: RequestRules,
    now: datetime,
) -> None:
    months = deadline_months if deadline_months is not None else rules.deadline_months
    if months < 1:
        raise InvalidRequestError("a deadline of at least one month is needed")
    request.verified_at = now
    request.deadline_months = months
    set_deadlines(request)
    await transition(
        session,
        request,
        "verified",
        actor=actor,
        now=now,
        detail={"due_at": iso(request.due_at)},
    )
    if request.kind == "unsubscribe":
        await honour_unsubscribe(session, request, now=now)


async def honour_unsubscribe(
    session: AsyncSession, request: PrivacyRequest, *, now: datetime
) -> None:
    """Suppress the address and complete the request: an objection to direct marketing
    needs no approval (GDPR art. 21(3))."""
    added = await suppress(session, request.shop_id, request.email_hash, now)
    # The customer hears of it in the chat that verified it (or not at all, on behalf).
    await transition(session, request, "in_progress", actor="system", now=now, tell_customer=False)
    await transition(
        session,
        request,
        "completed",
        actor="system",
        now=now,
        detail={"suppression": "added" if added else "already_present"},
        tell_customer=False,
    )
    await notify_shop(session, request, MARKETING_UNSUBSCRIBED, now=now)


async def list_requests_for(
    session: AsyncSession, pseudonym: str, shop_id: str | None = None
) -> list[PrivacyRequest]:
    """The customer's requests, newest first (all shops, or one)."""
    statement = select(PrivacyRequest).where(col(PrivacyRequest.pseudonym) == pseudonym)
    if shop_id is not None:
        statement = statement.where(col(PrivacyRequest.shop_id) == shop_id)
    rows = await session.exec(
        statement.order_by(col(PrivacyRequest.created_at).desc(), col(PrivacyRequest.id))
    )
    return list(rows)


async def get_customer_request(
    session: AsyncSession, pseudonym: str, request_id: str, *, for_update: bool = False
) -> PrivacyRequest:
    """The customer's own request; RequestNotFoundError for any other, existing or not.
    `for_update` locks its row for the transaction, as `fulfilment.get_request` does."""
    request = await session.get(
        PrivacyRequest, request_id, with_for_update=for_update, populate_existing=for_update
    )
    if request is None or request.pseudonym is None or request.pseudonym != pseudonym:
        raise RequestNotFoundError(request_id)
    return request
