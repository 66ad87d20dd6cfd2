"""What a shop (or an operator) does with a verified request: work on it, pause the clock
while waiting for the customer, extend the deadline, complete, deny or cancel it.

Each function takes a request already looked up for the caller (`get_request` for a shop,
`intake.get_customer_request` for a customer), so that who may touch it is decided there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, get_args

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import AccessExport, PrivacyRequest, utc_now
from backend.privacy_requests.deadlines import MAX_EXTENSION_MONTHS, end_pause, iso, set_deadlines
from backend.privacy_requests.errors import (
    ExtensionLimitError,
    IllegalTransitionError,
    InvalidRequestError,
    RequestNotFoundError,
    StateConflictError,
)
from backend.privacy_requests.lifecycle import (
    TRANSITIONS,
    Actor,
    DenialReason,
    record_event,
    transition,
)
from backend.privacy_requests.notices import queue_notice
from backend.text_safety import hidden_character

REASON_MAX_CHARS = 2000
SYSTEM_MAX_CHARS = 100
Outcome = Literal["erased", "no_match", "retained", "failed"]


@dataclass(frozen=True)
class SystemOutcome:
    """What one of the shop's systems did with a deletion. `retained` needs the legal
    basis and the date the data goes, which the customer is told in plain words."""

    system: str
    outcome: Outcome
    legal_basis: str | None = None
    retained_until: date | None = None


# The clock can stand still only while somebody works to a deadline.
PAUSABLE = frozenset({"verified", "in_progress"})


async def get_request(
    session: AsyncSession, shop_id: str, request_id: str, *, for_update: bool = False
) -> PrivacyRequest:
    """The shop's request; RequestNotFoundError for another shop's, existing or not.

    `for_update` locks its row until the transaction ends (SELECT … FOR UPDATE on
    PostgreSQL): every step that reads the request, changes it and writes it back takes it,
    so that parallel steps on one request run one after the other on fresh data instead of
    overwriting each other (ten parallel outcome reports kept two or three systems)."""
    request = await session.get(
        PrivacyRequest, request_id, with_for_update=for_update, populate_existing=for_update
    )
    if request is None or request.shop_id != shop_id:
        raise RequestNotFoundError(request_id)
    return request


async def start_work(
    session: AsyncSession,
    request: PrivacyRequest,
    *,
    actor: Actor = "shop",
    now: datetime | None = None,
) -> PrivacyRequest:
    await transition(session, request, "in_progress", actor=actor, now=now or utc_now())
    return request


async def report_outcomes(
    session: AsyncSession,
    request: PrivacyRequest,
    outcomes: Sequence[SystemOutcome],
    *,
    actor: Actor = "shop",
    now: datetime | None = None,
) -> PrivacyRequest:
    """Record what the shop's systems did so far with a deletion (a later report of the
    same system replaces the earlier one); the request stays open."""
    now = now or utc_now()
    if request.kind != "deletion":
        raise InvalidRequestError("only a deletion request has per-system outcomes")
    if request.status not in PAUSABLE:
        raise IllegalTransitionError(request.id, request.status, request.status)
    merged = {entry["system"]: entry for entry in request.outcomes or []}
    for outcome in _checked_outcomes(outcomes):
        merged[outcome["system"]] = outcome
    request.outcomes = list(merged.values())
    request.updated_at = now
    session.add(request)
    await record_event(
        session,
        request,
        actor=actor,
        action="outcomes_reported",
        now=now,
        detail=_outcome_counts(request.outcomes),
    )
    return request


async def complete(
    session: AsyncSession,
    request: PrivacyRequest,
    *,
    outcomes: Sequence[SystemOutcome] = (),
    actor: Actor = "shop",
    now: datetime | None = None,
) -> PrivacyRequest:
    """Close the request as done. A deletion needs an outcome for every system (given
    here or reported before), none of them `failed`; an access request needs its export."""
    now = now or utc_now()
    if "completed" not in TRANSITIONS[request.status]:
        raise IllegalTransitionError(request.id, request.status, "completed")
    if outcomes:
        await report_outcomes(session, request, outcomes, actor=actor, now=now)
    detail: dict[str, int] = {}
    if request.kind == "deletion":
        if not request.outcomes:
            raise InvalidRequestError("a deletion is completed with what each system did")
        if any(entry["outcome"] == "failed" for entry in request.outcomes):
            raise StateConflictError(
                "a system failed to delete; report it again once it has (erased, or retained "
                "with a legal basis), or deny the request"
            )
        detail = _outcome_counts(request.outcomes)
    if request.kind == "access" and await _has_no_export(session, request.id):
        raise InvalidRequestError("an access request is completed by uploading the export")
    await transition(session, request, "completed", actor=actor, now=now, detail=detail)
    return request


async def _has_no_export(session: AsyncSession, request_id: str) -> bool:
    found = await session.exec(
        select(AccessExport.id).where(col(AccessExport.request_id) == request_id)
    )
    return found.first() is None


def _checked_outcomes(outcomes: Sequence[SystemOutcome]) -> list[dict[str, Any]]:
    checked: list[dict[str, Any]] = []
    for outcome in outcomes:
        system = outcome.system.strip()
        if not system or len(system) > SYSTEM_MAX_CHARS:
            raise InvalidRequestError(f"a system name of 1 to {SYSTEM_MAX_CHARS} characters")
        _refuse_hidden(system, "a system name")
        if outcome.outcome not in get_args(Outcome):
            raise InvalidRequestError(f"unknown outcome {outcome.outcome!r}")
        entry: dict[str, Any] = {"system": system, "outcome": outcome.outcome}
        if outcome.outcome == "retained":
            if not (outcome.legal_basis and outcome.legal_basis.strip()):
                raise InvalidRequestError(f"{system}: data kept needs its legal basis")
            if outcome.retained_until is None:
                raise InvalidRequestError(f"{system}: data kept needs the date it goes")
            entry["legal_basis"] = _reason(outcome.legal_basis, "a legal basis")
            entry["retained_until"] = outcome.retained_until.isoformat()
        checked.append(entry)
    return checked


def _outcome_counts(outcomes: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(get_args(Outcome), 0)
    for entry in outcomes:
        counts[entry["outcome"]] += 1
    return counts


async def deny(
    session: AsyncSession,
    request: PrivacyRequest,
    reason_code: DenialReason,
    reason_text: str,
    *,
    actor: Actor = "shop",
    now: datetime | None = None,
) -> PrivacyRequest:
    """Deny with one of the reason codes and a text the customer is shown."""
    if reason_code not in get_args(DenialReason):
        raise InvalidRequestError(f"unknown denial reason {reason_code!r}")
    text = _reason(reason_text, "a denial")
    request.denial_reason_code = reason_code
    request.denial_reason_text = text
    # The text stays on the request, for the customer; the trail keeps only the code.
    await transition(
        session,
        request,
        "denied",
        actor=actor,
        now=now or utc_now(),
        detail={"reason_code": reason_code},
    )
    return request


async def cancel(
    session: AsyncSession,
    request: PrivacyRequest,
    *,
    actor: Actor,
    now: datetime | None = None,
) -> PrivacyRequest:
    await transition(session, request, "canceled", actor=actor, now=now or utc_now())
    return request


async def extend(
    session: AsyncSession,
    request: PrivacyRequest,
    months: int,
    reason: str,
    *,
    actor: Actor = "shop",
    now: datetime | None = None,
) -> PrivacyRequest:
    """Extend the deadline by `months`, at most two further months in all (GDPR art.
    12(3)); the reason is kept for the customer, who must be told it."""
    now = now or utc_now()
    if request.status not in PAUSABLE:
        raise IllegalTransitionError(request.id, request.status, request.status)
    if months < 1 or months > MAX_EXTENSION_MONTHS:
        raise InvalidRequestError(f"an extension of 1 to {MAX_EXTENSION_MONTHS} months is asked")
    if request.extension_months + months > MAX_EXTENSION_MONTHS:
        # A conflict with what the request already has, not a malformed ask (409).
        raise ExtensionLimitError(request.id, request.extension_months)
    request.extension_reason = _reason(reason, "an extension")
    request.extension_months += months
    request.updated_at = now
    set_deadlines(request)
    if actor != "customer":
        await queue_notice(session, request, "extended", now=now)
    await record_event(
        session,
        request,
        actor=actor,
        action="extended",
        now=now,
        detail={
            "months": months,
            "extension_months": request.extension_months,
            "extended_until": iso(request.extended_until),
        },
    )
    return request


async def pause(
    session: AsyncSession,
    request: PrivacyRequest,
    *,
    actor: Actor = "shop",
    now: datetime | None = None,
) -> PrivacyRequest:
    """Stop the clock while the shop waits for the customer (say, for a detail it needs)."""
    now = now or utc_now()
    if request.status not in PAUSABLE or request.paused_since is not None:
        raise IllegalTransitionError(request.id, request.status, "paused")
    request.paused_since = now
    request.updated_at = now
    await record_event(session, request, actor=actor, action="paused", now=now)
    return request


async def resume(
    session: AsyncSession,
    request: PrivacyRequest,
    *,
    actor: Actor = "shop",
    now: datetime | None = None,
) -> PrivacyRequest:
    """Start the clock again; the deadline moves by the time it stood still."""
    now = now or utc_now()
    if request.paused_since is None:
        raise IllegalTransitionError(request.id, request.status, "resumed")
    seconds = end_pause(request, now)
    request.updated_at = now
    await record_event(
        session,
        request,
        actor=actor,
        action="resumed",
        now=now,
        detail={"paused_seconds": seconds, "due_at": iso(request.due_at)},
    )
    return request


def _reason(text: str, what: str) -> str:
    reason = text.strip()
    if not reason:
        raise InvalidRequestError(f"{what} needs a reason")
    if len(reason) > REASON_MAX_CHARS:
        raise InvalidRequestError(f"a reason of at most {REASON_MAX_CHARS} characters is needed")
    _refuse_hidden(reason, what)
    return reason


def _refuse_hidden(text: str, what: str) -> None:
    """Texts the customer is shown must read as they are (no bidi tricks, no invisibles)."""
    found = hidden_character(text)
    if found is not None:
        raise InvalidRequestError(f"{what} may not contain the invisible character {found}")
