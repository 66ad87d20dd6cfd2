"""The webhook calls of the REST API: a shop's endpoints (add, list, read, disable, rotate
the secret) and their deliveries (list, replay one)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.api.context import (
    body_of,
    context,
    decode_cursor,
    encode_cursor,
    limit_of,
    shop_of,
)
from backend.api.idempotency import json_response, run_idempotently
from backend.api.problems import ProblemError
from backend.api.schemas import (
    CreateEndpoint,
    DeliveryPage,
    DeliveryView,
    EndpointList,
    EndpointView,
    RotateSecret,
)
from backend.models import DELIVERY_STATUSES, OutboxEvent, WebhookDelivery, WebhookEndpoint, utc_now
from backend.webhooks import create_endpoint, disable_endpoint, rotate_secret


async def _endpoint(session: AsyncSession, shop_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.shop_id != shop_id:
        raise ProblemError(404, "Not found", f"webhook endpoint {endpoint_id!r} not found")
    return endpoint


def _dump(model: EndpointView | EndpointList | DeliveryView | DeliveryPage) -> Any:
    return model.model_dump(mode="json")


async def add_endpoint(request: web.Request) -> web.Response:
    ctx = context(request)
    shop_id = shop_of(request)
    body, raw = await body_of(request, CreateEndpoint)

    async def work(session: AsyncSession) -> tuple[int, Any]:
        endpoint = await create_endpoint(
            session,
            shop_id,
            body.url,
            list(body.events),
            allow_private_targets=ctx.webhook_settings.allow_private_targets,
        )
        return 201, _dump(EndpointView.of(endpoint, with_secret=True))

    return await run_idempotently(request, ctx.database, shop_id, raw, work)


async def list_endpoints(request: web.Request) -> web.Response:
    async with context(request).database.session() as session:
        rows = await session.exec(
            select(WebhookEndpoint)
            .where(col(WebhookEndpoint.shop_id) == shop_of(request))
            .order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
        )
        items = [EndpointView.of(row) for row in rows]
    return json_response(200, _dump(EndpointList(items=items)))


async def read_endpoint(request: web.Request) -> web.Response:
    async with context(request).database.session() as session:
        endpoint = await _endpoint(session, shop_of(request), request.match_info["endpoint_id"])
    return json_response(200, _dump(EndpointView.of(endpoint)))


async def remove_endpoint(request: web.Request) -> web.Response:
    """Disabled rather than deleted: its deliveries stay listed; it gets no new ones."""
    async with context(request).database.session() as session:
        endpoint = await _endpoint(session, shop_of(request), request.match_info["endpoint_id"])
        if endpoint.enabled:
            await disable_endpoint(session, endpoint, "removed_by_shop")
    return json_response(200, _dump(EndpointView.of(endpoint)))


async def rotate_endpoint_secret(request: web.Request) -> web.Response:
    ctx = context(request)
    body, _ = await body_of(request, RotateSecret)
    hours = (
        body.overlap_hours
        if body.overlap_hours is not None
        else ctx.webhook_settings.rotation_overlap_hours
    )
    async with ctx.database.session() as session:
        endpoint = await _endpoint(session, shop_of(request), request.match_info["endpoint_id"])
        await rotate_secret(session, endpoint, overlap=timedelta(hours=hours))
    return json_response(200, _dump(EndpointView.of(endpoint, with_secret=True)))


async def list_deliveries(request: web.Request) -> web.Response:
    shop_id = shop_of(request)
    statement = (
        select(WebhookDelivery, col(OutboxEvent.type))
        .join(OutboxEvent, col(OutboxEvent.id) == col(WebhookDelivery.event_id))
        .where(col(OutboxEvent.shop_id) == shop_id)
    )
    status = request.query.get("status")
    if status is not None:
        if status not in DELIVERY_STATUSES:
            raise ProblemError(400, "Bad status", f"status is one of {DELIVERY_STATUSES}")
        statement = statement.where(col(WebhookDelivery.status) == status)
    endpoint_id = request.query.get("endpoint_id")
    if endpoint_id is not None:
        statement = statement.where(col(WebhookDelivery.endpoint_id) == endpoint_id)
    offset = decode_cursor(request.query.get("cursor"))
    limit = limit_of(request)
    async with context(request).database.session() as session:
        rows = list(
            await session.exec(
                statement.order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id))
                .offset(offset)
                .limit(limit + 1)
            )
        )
    items = [DeliveryView.of(delivery, event_type) for delivery, event_type in rows[:limit]]
    next_cursor = encode_cursor(offset + limit) if len(rows) > limit else None
    return json_response(200, _dump(DeliveryPage(items=items, next_cursor=next_cursor)))


async def replay_delivery(request: web.Request) -> web.Response:
    """Send a delivery again, now: the same event, so the same `webhook-id`; a dead one
    gets a fresh retry window. The endpoint must be enabled."""
    shop_id = shop_of(request)
    delivery_id = request.match_info["delivery_id"]
    now = utc_now()
    async with context(request).database.session() as session:
        delivery = await session.get(WebhookDelivery, delivery_id)
        event = await session.get(OutboxEvent, delivery.event_id) if delivery else None
        if delivery is None or event is None or event.shop_id != shop_id:
            raise ProblemError(404, "Not found", f"delivery {delivery_id!r} not found")
        endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint is None or not endpoint.enabled:
            raise ProblemError(
                409, "Endpoint disabled", "the endpoint is disabled; add it again to replay"
            )
        # Not while a worker holds it: clearing a live lease let a second worker send the
        # same delivery while the first was still sending it.
        replayed = await session.exec(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == delivery_id)
            .where(
                or_(
                    col(WebhookDelivery.locked_until).is_(None),
                    col(WebhookDelivery.locked_until) <= now,
                )
            )
            .values(
                status="pending",
                next_attempt_at=now,
                first_attempt_at=None,
                locked_by=None,
                locked_until=None,
            )
            .execution_options(synchronize_session=False)
        )
        if replayed.rowcount != 1:
            raise ProblemError(
                409, "Being sent", "the delivery is being sent right now; replay it afterwards"
            )
        await session.refresh(delivery)
        answer = DeliveryView.of(delivery, event.type)
    return json_response(202, _dump(answer))
