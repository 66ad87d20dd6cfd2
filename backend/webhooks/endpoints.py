"""A shop's webhook endpoints: adding one, rotating its secret, disabling it."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import WebhookEndpoint, utc_now
from backend.webhooks.events import ALL_EVENTS, EVENT_TYPES
from backend.webhooks.signing import new_secret
from backend.webhooks.targets import check_target


def new_endpoint_id() -> str:
    return "we_" + secrets.token_hex(12)


async def create_endpoint(
    session: AsyncSession,
    shop_id: str,
    url: str,
    events: Sequence[str] = (ALL_EVENTS,),
    *,
    allow_private_targets: bool = False,
    now: datetime | None = None,
) -> WebhookEndpoint:
    """A new enabled endpoint with a fresh secret (which the caller shows the shop once).
    TargetRefusedError for a URL the server would not call."""
    unknown = set(events) - EVENT_TYPES - {ALL_EVENTS}
    if unknown or not events:
        raise ValueError(f"unknown event types: {sorted(unknown)}" if unknown else "no events")
    await check_target(url, allow_private=allow_private_targets)
    endpoint = WebhookEndpoint(
        id=new_endpoint_id(),
        shop_id=shop_id,
        url=url,
        events=sorted(set(events)),
        secret=new_secret(),
        created_at=now or utc_now(),
    )
    session.add(endpoint)
    await session.flush()
    return endpoint


async def rotate_secret(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    *,
    overlap: timedelta = timedelta(hours=24),
    now: datetime | None = None,
) -> str:
    """Give the endpoint a new secret; the old one keeps signing alongside for `overlap`,
    so that the shop can switch its receiver over without losing a call."""
    now = now or utc_now()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_valid_until = now + overlap
    endpoint.secret = new_secret()
    session.add(endpoint)
    await session.flush()
    return endpoint.secret


async def disable_endpoint(session: AsyncSession, endpoint: WebhookEndpoint, reason: str) -> None:
    endpoint.enabled = False
    endpoint.disabled_reason = reason
    session.add(endpoint)
    await session.flush()
