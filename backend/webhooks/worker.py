"""The outbox worker: sends due deliveries to shops' endpoints, signed, and schedules the
retries of those that failed.

Nothing personal goes into its log lines: delivery, event and endpoint ids, status codes.
Each finished attempt counts in `privacy_assistant_webhook_deliveries_total`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import update
from sqlmodel import col, select

from backend.database import Database
from backend.models import OutboxEvent, WebhookDelivery, WebhookEndpoint, utc_now
from backend.observability.metrics import DeliveryOutcome, count_delivery
from backend.webhooks.claims import claim_due
from backend.webhooks.endpoints import disable_endpoint
from backend.webhooks.schedule import parse_retry_after, retry_delay
from backend.webhooks.settings import WebhookSettings
from backend.webhooks.signing import signed_headers, signing_secrets
from backend.webhooks.targets import TargetRefusedError, check_target, checked_http_client

logger = logging.getLogger(__name__)

GONE = 410
RETRY_AFTER_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class DeadDelivery:
    """What an alert is told about a delivery that will not be tried again."""

    delivery_id: str
    endpoint_id: str
    event_id: str
    attempts: int
    reason: str


@dataclass(frozen=True)
class _Attempt:
    status_code: int | None
    error: str | None
    retry_after: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


Clock = Callable[[], datetime]
AlertHook = Callable[[DeadDelivery], Awaitable[None]]
HttpClientFactory = Callable[[], aiohttp.ClientSession]


def event_body(event: OutboxEvent) -> str:
    """The JSON body of an event, the same on every attempt (the signature covers it)."""
    return json.dumps(
        {"type": event.type, "timestamp": event.created_at.isoformat(), "data": event.payload},
        separators=(",", ":"),
        sort_keys=True,
    )


class OutboxWorker:
    """Delivers the outbox; several may run against one PostgreSQL database.

    `clock` decides what is due and when to retry (tests move it on instead of sleeping);
    the `webhook-timestamp` header always carries the real time, since the receiver checks
    it against its own clock.
    """

    def __init__(
        self,
        database: Database,
        http_client_factory: HttpClientFactory | None = None,
        worker_id: str | None = None,
        *,
        settings: WebhookSettings | None = None,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        on_dead: AlertHook | None = None,
    ) -> None:
        self.database = database
        self.worker_id = worker_id or f"worker-{secrets.token_hex(4)}"
        self.settings = settings or WebhookSettings()
        self._http_client_factory = http_client_factory or (
            lambda: checked_http_client(allow_private=self.settings.allow_private_targets)
        )
        self._http: aiohttp.ClientSession | None = None
        self._clock = clock
        self._rng = rng or random.Random()
        self._on_dead = on_dead

    async def run_once(self) -> int:
        """Send every delivery due now (up to a batch); how many were attempted."""
        if self._http is None:
            self._http = self._http_client_factory()
        claimed = await claim_due(
            self.database,
            self.worker_id,
            now=self._clock(),
            lease=timedelta(seconds=self.settings.lease_seconds),
            limit=self.settings.batch_size,
        )
        await asyncio.gather(*(self._deliver(delivery_id) for delivery_id in claimed))
        return len(claimed)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; a database or network failure never ends the loop."""
        try:
            while not stop.is_set():
                try:
                    attempted = await self.run_once()
                except Exception:
                    logger.exception("outbox worker %s: a round failed", self.worker_id)
                    attempted = 0
                if attempted < self.settings.batch_size:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.settings.poll_seconds)
        finally:
            await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _deliver(self, delivery_id: str) -> None:
        # One query for the delivery, its event and its endpoint.
        async with self.database.session() as session:
            found = (
                await session.exec(
                    select(WebhookDelivery, OutboxEvent, WebhookEndpoint)
                    .join(OutboxEvent, col(OutboxEvent.id) == col(WebhookDelivery.event_id))
                    .join(
                        WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id)
                    )
                    .where(col(WebhookDelivery.id) == delivery_id)
                )
            ).first()
        if found is None:
            return
        delivery, event, endpoint = found
        now = self._clock()
        if not endpoint.enabled:
            await self._finish(delivery, now, status="dead", last_error="endpoint_disabled")
            return
        attempt = await self._send(endpoint, event, now)
        await self._record(delivery, endpoint, attempt, now)

    async def _send(self, endpoint: WebhookEndpoint, event: OutboxEvent, now: datetime) -> _Attempt:
        assert self._http is not None
        try:
            await check_target(endpoint.url, allow_private=self.settings.allow_private_targets)
        except TargetRefusedError:
            return _Attempt(None, "target_refused")
        body = event_body(event)
        headers = signed_headers(signing_secrets(endpoint, now), event.id, utc_now(), body)
        try:
            async with self._http.post(
                endpoint.url,
                data=body.encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds),
                # A redirect could lead anywhere, private addresses included.
                allow_redirects=False,
            ) as response:
                await response.release()
                return _Attempt(
                    response.status,
                    None if 200 <= response.status < 300 else f"http_{response.status}",
                    response.headers.get("Retry-After"),
                )
        except TimeoutError:
            return _Attempt(None, "timeout")
        except aiohttp.ClientError as exc:
            return _Attempt(None, type(exc).__name__)

    async def _record(
        self, delivery: WebhookDelivery, endpoint: WebhookEndpoint, attempt: _Attempt, now: datetime
    ) -> None:
        attempts = delivery.attempts + 1
        first = delivery.first_attempt_at or now
        common: dict[str, Any] = {
            "attempts": attempts,
            "first_attempt_at": first,
            "last_status_code": attempt.status_code,
            "last_error": attempt.error,
        }
        if attempt.succeeded:
            await self._finish(delivery, now, status="delivered", delivered_at=now, **common)
            return
        if attempt.status_code == GONE:
            async with self.database.session() as session:
                current = await session.get(WebhookEndpoint, endpoint.id)
                if current is not None and current.enabled:
                    await disable_endpoint(session, current, "gone_410")
            logger.warning("webhook endpoint %s answered 410 and is disabled", endpoint.id)
            await self._finish(delivery, now, status="dead", **common)
            await self._alert(delivery, attempts, "endpoint_gone")
            return
        wait = None
        if attempt.status_code in RETRY_AFTER_STATUSES:
            wait = parse_retry_after(attempt.retry_after, now)
        next_at = now + (wait if wait is not None else retry_delay(attempts, self._rng))
        if next_at > first + timedelta(hours=self.settings.retry_window_hours):
            await self._finish(delivery, now, status="dead", **common)
            await self._alert(delivery, attempts, attempt.error or "failed")
            return
        await self._finish(delivery, now, status="failed", next_attempt_at=next_at, **common)

    async def _finish(self, delivery: WebhookDelivery, now: datetime, **values: Any) -> None:
        # Only while our lease holds: after it ran out the delivery may be another's.
        async with self.database.session() as session:
            changed = await session.exec(
                update(WebhookDelivery)
                .where(col(WebhookDelivery.id) == delivery.id)
                .where(col(WebhookDelivery.locked_by) == self.worker_id)
                .values(last_attempt_at=now, locked_by=None, locked_until=None, **values)
                .execution_options(synchronize_session=False)
            )
        if changed.rowcount != 1:
            logger.warning("webhook delivery %s: lease lost before the result", delivery.id)
        # By the endpoint's id (bounded, nothing secret), never its URL; an attempt is
        # counted even when its lease ran out, since it was made.
        outcome: DeliveryOutcome = values["status"]
        count_delivery(delivery.endpoint_id, outcome, attempted="attempts" in values)

    async def _alert(self, delivery: WebhookDelivery, attempts: int, reason: str) -> None:
        logger.error(
            "webhook delivery %s to endpoint %s is dead after %d attempts (%s)",
            delivery.id,
            delivery.endpoint_id,
            attempts,
            reason,
        )
        if self._on_dead is not None:
            await self._on_dead(
                DeadDelivery(delivery.id, delivery.endpoint_id, delivery.event_id, attempts, reason)
            )
