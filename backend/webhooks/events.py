"""The events a shop's backend hears about, and the transactional outbox they go through.

`record_event` writes into the caller's session: the event commits with the change that
caused it, or neither does. The worker (`backend.webhooks.worker`) delivers it later.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import WEBHOOK_EVENT_TYPES, OutboxEvent, WebhookDelivery, WebhookEndpoint
from backend.models import utc_now as _utc_now

REQUEST_CREATED: Final = "privacy_request.created"
REQUEST_VERIFIED: Final = "privacy_request.verified"
REQUEST_DUE_SOON: Final = "privacy_request.due_soon"
REQUEST_OVERDUE: Final = "privacy_request.overdue"
REQUEST_COMPLETED: Final = "privacy_request.completed"
REQUEST_DENIED: Final = "privacy_request.denied"
REQUEST_CANCELED: Final = "privacy_request.canceled"
REQUEST_EXPIRED: Final = "privacy_request.expired"
MARKETING_UNSUBSCRIBED: Final = "marketing.unsubscribed"
HANDOFF_REQUESTED: Final = "conversation.handoff_requested"
EVENT_TYPES: Final = frozenset(WEBHOOK_EVENT_TYPES)
ALL_EVENTS: Final = "*"


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def new_delivery_id() -> str:
    return "dlv_" + secrets.token_hex(12)


def subscribes_to(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return ALL_EVENTS in endpoint.events or event_type in endpoint.events


async def record_event(
    session: AsyncSession,
    shop_id: str,
    type: str,  # the name the Standard Webhooks payload gives it
    payload: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> OutboxEvent:
    """Write an event for `shop_id` and one pending delivery to each of the shop's enabled
    endpoints that subscribe to `type`. `payload` is thin: ids and codes, nothing personal.
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {type!r}")
    now = now or _utc_now()
    event = OutboxEvent(
        id=new_event_id(), shop_id=shop_id, type=type, payload=dict(payload), created_at=now
    )
    session.add(event)
    endpoints = await session.exec(
        select(WebhookEndpoint)
        .where(col(WebhookEndpoint.shop_id) == shop_id)
        .where(col(WebhookEndpoint.enabled))
    )
    for endpoint in endpoints:
        if subscribes_to(endpoint, type):
            session.add(
                WebhookDelivery(
                    id=new_delivery_id(),
                    event_id=event.id,
                    endpoint_id=endpoint.id,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    await session.flush()
    return event
