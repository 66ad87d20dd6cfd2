"""Prometheus metrics of the assistant, on prometheus-client's default registry.

Counters and histograms are updated where things happen (the bot, the outbox worker); the
gauges of what the database and the index hold are filled when /metrics is scraped
(`refresh_database_gauges`, `refresh_index_gauges`). Labels are bounded and hold no secrets
nor personal data: shop and endpoint ids, kinds, statuses, outcomes.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Final, Literal

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func
from sqlmodel import col, select

from backend.database import Database
from backend.models import DEADLINE_RUNS_IN, PrivacyRequest, WebhookDelivery, utc_now
from indexer.publish import Manifest, current_version_dir

PREFIX: Final = "privacy_assistant_"

UPDATES = Counter(PREFIX + "updates_total", "Telegram updates handled, by type", ["type"])
ANSWER_SECONDS = Histogram(
    PREFIX + "answer_seconds",
    "Time from a customer's question to the answer",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
ANSWER_CONFIDENCE = Histogram(
    PREFIX + "answer_confidence",
    "Confidence of the answers given",
    buckets=tuple(round(step / 10, 1) for step in range(11)),
)
WEB_CHAT_SOCKETS = Gauge(PREFIX + "web_chat_sockets", "Web chat sockets open on this replica")
WEB_CHAT_REFUSED = Counter(
    PREFIX + "web_chat_refused_total",
    "Web chat sockets and frames refused, by reason",
    ["reason"],
)
HANDOFFS = Counter(PREFIX + "handoffs_total", "Hand-offs to staff, by event", ["event"])
WEBHOOK_DELIVERIES = Counter(
    PREFIX + "webhook_deliveries_total",
    "Webhook delivery attempts by endpoint id and outcome (delivered, failed, dead)",
    ["endpoint", "outcome"],
)
WEBHOOK_DELIVERY_FAILURES = Counter(
    PREFIX + "webhook_delivery_failures_total",
    "Webhook delivery attempts that did not succeed, by endpoint id",
    ["endpoint"],
)

PRIVACY_REQUESTS = Gauge(
    PREFIX + "privacy_requests", "Privacy requests in the database", ["kind", "status"]
)
PRIVACY_REQUESTS_OVERDUE = Gauge(
    PREFIX + "privacy_requests_overdue",
    "Requests being worked on (not paused) past their deadline",
)
OUTBOX_BACKLOG = Gauge(
    PREFIX + "outbox_backlog", "Webhook deliveries neither delivered nor dead yet"
)
INDEX_VERSION = Gauge(PREFIX + "index_version", "The policy index version being served")
INDEX_PASSAGES = Gauge(PREFIX + "index_passages", "Passages in the served index", ["shop"])

DeliveryOutcome = Literal["delivered", "failed", "dead"]
_SETTLED_DELIVERIES: Final = ("delivered", "dead")


def count_delivery(endpoint_id: str, outcome: DeliveryOutcome, *, attempted: bool = True) -> None:
    """Count a delivery's outcome; an attempt that did not succeed counts as a failure too."""
    WEBHOOK_DELIVERIES.labels(endpoint=endpoint_id, outcome=outcome).inc()
    if attempted and outcome != "delivered":
        WEBHOOK_DELIVERY_FAILURES.labels(endpoint=endpoint_id).inc()


async def refresh_database_gauges(database: Database, *, now: datetime | None = None) -> None:
    """Set the gauges of requests, overdue requests and the outbox backlog from the database."""
    now = now or utc_now()
    async with database.session() as session:
        by_kind_and_status = list(
            await session.exec(
                select(col(PrivacyRequest.kind), col(PrivacyRequest.status), func.count()).group_by(
                    col(PrivacyRequest.kind), col(PrivacyRequest.status)
                )
            )
        )
        # The requests `send_reminders` tells the shop about as overdue, reminded or not.
        overdue = await session.scalar(
            select(func.count())
            .select_from(PrivacyRequest)
            .where(col(PrivacyRequest.status).in_(DEADLINE_RUNS_IN))
            .where(col(PrivacyRequest.paused_since).is_(None))
            .where(PrivacyRequest.deadline_column() < now)
        )
        backlog = await session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(col(WebhookDelivery.status).not_in(_SETTLED_DELIVERIES))
        )
    # Cleared and set with no await between: a scrape never sees a half-filled gauge.
    PRIVACY_REQUESTS.clear()
    for kind, status, count in by_kind_and_status:
        PRIVACY_REQUESTS.labels(kind=kind, status=status).set(count)
    PRIVACY_REQUESTS_OVERDUE.set(overdue or 0)
    OUTBOX_BACKLOG.set(backlog or 0)


def set_index_gauges(manifest: Manifest) -> None:
    """The index gauges of the version `manifest` describes."""
    INDEX_VERSION.set(manifest.version)
    INDEX_PASSAGES.clear()
    for shop, passages in (manifest.shops or {"all": manifest.passage_count}).items():
        INDEX_PASSAGES.labels(shop=shop).set(passages)


def refresh_index_gauges(index_dir: Path) -> None:
    """Set the index gauges from the published manifest (IndexNotFoundError if none)."""
    set_index_gauges(Manifest.read(current_version_dir(index_dir)))


def render() -> tuple[bytes, str]:
    """The default registry in the Prometheus text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
