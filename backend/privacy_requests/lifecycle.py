"""The lifecycle of a privacy request: the one place where its status changes, and the
audit trail that records every change.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import AuditEvent, PrivacyRequest
from backend.privacy_requests.deadlines import end_pause
from backend.privacy_requests.errors import IllegalTransitionError
from backend.privacy_requests.notices import NOTICE_EVENTS, queue_notice
from backend.webhooks import events as webhook_events

RequestKind = Literal["unsubscribe", "access", "deletion"]
RequestStatus = Literal[
    "identity_pending", "verified", "in_progress", "completed", "denied", "canceled", "expired"
]
Actor = Literal["customer", "shop", "operator", "system"]
DenialReason = Literal[
    "identity_not_verified", "no_customer_match", "legal_retention", "manifestly_excessive", "other"
]

TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    "identity_pending": frozenset({"verified", "expired", "canceled"}),
    "verified": frozenset({"in_progress", "denied", "canceled"}),
    "in_progress": frozenset({"completed", "denied", "canceled"}),
    "completed": frozenset(),
    "denied": frozenset(),
    "canceled": frozenset(),
    "expired": frozenset(),
}
OPEN_STATUSES: Final = frozenset(status for status, onward in TRANSITIONS.items() if onward)
CLOSED_STATUSES: Final = frozenset(TRANSITIONS) - OPEN_STATUSES
# The statuses a shop's backend must hear about; the others it caused itself or can ignore.
WEBHOOK_EVENT_ON_STATUS: Final[Mapping[str, str]] = {
    "verified": webhook_events.REQUEST_VERIFIED,
    "completed": webhook_events.REQUEST_COMPLETED,
    "denied": webhook_events.REQUEST_DENIED,
    "canceled": webhook_events.REQUEST_CANCELED,
    "expired": webhook_events.REQUEST_EXPIRED,
}


async def transition(
    session: AsyncSession,
    request: PrivacyRequest,
    to_status: RequestStatus,
    *,
    actor: Actor,
    now: datetime,
    action: str | None = None,
    detail: Mapping[str, Any] | None = None,
    tell_customer: bool | None = None,
) -> AuditEvent:
    """Move `request` to `to_status` and record it; IllegalTransitionError if the lifecycle
    does not allow it, also when a concurrent change got there first.

    The customer is told in their chat of a change they did not make themselves, unless
    `tell_customer` says otherwise (the chat flow that caused it answers them already).
    """
    from_status = request.status
    if to_status not in TRANSITIONS[from_status]:
        raise IllegalTransitionError(request.id, from_status, to_status)
    # Conditional on the status we read, so that two changes racing from the same status
    # (a double tap, two shop workers) cannot both pass: the loser updates no row.
    changed = await session.exec(
        update(PrivacyRequest)
        .where(col(PrivacyRequest.id) == request.id)
        .where(col(PrivacyRequest.status) == from_status)
        .values(status=to_status, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        await session.refresh(request)
        raise IllegalTransitionError(request.id, request.status, to_status)
    request.status = to_status
    request.updated_at = now
    if to_status in CLOSED_STATUSES:
        # A closed request waits for nobody; the time it waited still counts as paused.
        end_pause(request, now)
        request.closed_at = now
    if to_status in WEBHOOK_EVENT_ON_STATUS:
        await notify_shop(session, request, WEBHOOK_EVENT_ON_STATUS[to_status], now=now)
    if tell_customer is None:
        tell_customer = actor != "customer"
    if tell_customer and to_status in NOTICE_EVENTS:
        await queue_notice(session, request, to_status, now=now)
    if to_status in CLOSED_STATUSES:
        # The last notice holds the chat id until it is sent; the request needs it no more.
        request.notify_chat_id = None
    return await record_event(
        session,
        request,
        actor=actor,
        action=action or to_status,
        now=now,
        from_status=from_status,
        to_status=to_status,
        detail=detail,
    )


async def record_event(
    session: AsyncSession,
    request: PrivacyRequest,
    *,
    actor: Actor,
    action: str,
    now: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append an audit event for a change of `request` that leaves its status as it is
    (or, through `transition`, one that moves it). `detail` holds codes and numbers only."""
    event = AuditEvent(
        request_id=request.id,
        at=now,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=to_status,
        detail=dict(detail or {}),
    )
    session.add(event)
    await session.flush()
    return event


async def notify_shop(
    session: AsyncSession, request: PrivacyRequest, event_type: str, *, now: datetime
) -> None:
    """Put a webhook event about `request` into the outbox, in the caller's transaction.

    Thin, as the shop fetches the rest through the API: ids and codes, no e-mail hash, no
    text anyone typed.
    """
    payload: dict[str, Any] = {
        "request_id": request.id,
        "kind": request.kind,
        "status": request.status,
    }
    if request.deadline is not None:
        payload["due_at"] = request.deadline.isoformat()
    if request.denial_reason_code is not None:
        payload["denial_reason_code"] = request.denial_reason_code
    await webhook_events.record_event(session, request.shop_id, event_type, payload, now=now)
