"""The Prometheus metrics: gauges filled from the database and the index at scrape time,
and the outbox worker's delivery counters. The registry is the process's own, shared by
every test: counters are compared before and after, gauges are set whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from backend.database import Database
from backend.models import WebhookEndpoint
from backend.observability.metrics import (
    ANSWER_CONFIDENCE,
    refresh_database_gauges,
    refresh_index_gauges,
    render,
)
from backend.privacy_requests import add_months, cancel, get_request, pause
from backend.pseudonyms import pseudonym_for
from backend.webhooks import (
    REQUEST_CREATED,
    OutboxWorker,
    WebhookSettings,
    create_endpoint,
    disable_endpoint,
    record_event,
)
from tests.backend.privacy_requests_support import (
    BOB,
    KEY,
    SHOP,
    T0,
    ConsoleMailbox,
    started,
    verified,
)
from tests.backend.test_health import publish_index

DUE = add_months(T0, 1)
CAROL = pseudonym_for(2003, KEY)


def scraped() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The samples of the rendered text, by name and labels."""
    body, content_type = render()
    assert content_type.startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def requests_gauge(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> dict:
    return {
        tuple(sorted(labels)): value
        for (name, labels), value in samples.items()
        if name == "privacy_assistant_privacy_requests"
    }


async def test_request_gauges_count_by_kind_status_and_overdue(db: Database) -> None:
    mailbox = ConsoleMailbox()
    pending = await started(db, mailbox, now=T0)
    await verified(db, mailbox, kind="deletion", pseudonym=BOB, email="bob@example.org")
    waiting = await verified(db, mailbox, pseudonym=CAROL, email="carol@example.org")
    async with db.session() as session:
        await pause(
            session, await get_request(session, SHOP, waiting.id), now=T0 + timedelta(days=1)
        )

    await refresh_database_gauges(db, now=DUE - timedelta(seconds=1))
    samples = scraped()
    assert requests_gauge(samples) == {
        (("kind", "access"), ("status", "identity_pending")): 1,
        (("kind", "access"), ("status", "verified")): 1,
        (("kind", "deletion"), ("status", "verified")): 1,
    }
    assert samples[("privacy_assistant_privacy_requests_overdue", frozenset())] == 0

    # Past the deadline: the deletion is overdue; the paused request waits for the
    # customer, as for the reminders, and is not.
    await refresh_database_gauges(db, now=DUE + timedelta(days=2))
    assert scraped()[("privacy_assistant_privacy_requests_overdue", frozenset())] == 1

    # A status no request has any more disappears instead of keeping its last count.
    async with db.session() as session:
        request = await get_request(session, SHOP, pending.id)
        await cancel(session, request, actor="customer", now=T0 + timedelta(days=3))
    await refresh_database_gauges(db, now=DUE + timedelta(days=2))
    assert requests_gauge(scraped()) == {
        (("kind", "access"), ("status", "canceled")): 1,
        (("kind", "access"), ("status", "verified")): 1,
        (("kind", "deletion"), ("status", "verified")): 1,
    }


class Receiver:
    """A shop's endpoint on loopback answering every call with `status`."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        await request.read()
        return web.Response(status=self.status)


@pytest.fixture
async def receivers() -> AsyncIterator[dict[int, TestServer]]:
    servers: dict[int, TestServer] = {}
    for status in (204, 500):
        app = web.Application()
        app.router.add_post("/hooks", Receiver(status).handle)
        servers[status] = TestServer(app, host="127.0.0.1")
        await servers[status].start_server()
    yield servers
    for server in servers.values():
        await server.close()


def deliveries_counter(endpoint: WebhookEndpoint, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "privacy_assistant_webhook_deliveries_total",
        {"endpoint": endpoint.id, "outcome": outcome},
    )
    return value or 0.0


def failures_counter(endpoint: WebhookEndpoint) -> float:
    value = REGISTRY.get_sample_value(
        "privacy_assistant_webhook_delivery_failures_total", {"endpoint": endpoint.id}
    )
    return value or 0.0


async def test_worker_counts_deliveries_and_backlog_shrinks(
    db: Database, receivers: dict[int, TestServer]
) -> None:
    endpoints = []
    async with db.session() as session:
        for server in (receivers[204], receivers[500], receivers[204]):
            url = f"http://127.0.0.1:{server.port}/hooks"
            endpoints.append(await create_endpoint(session, SHOP, url, allow_private_targets=True))
    good, bad, gone = endpoints
    for number in (1, 2):
        async with db.session() as session:
            await record_event(session, SHOP, REQUEST_CREATED, {"request_id": f"pr_{number}"})
    async with db.session() as session:
        current = await session.get(WebhookEndpoint, gone.id)
        assert current is not None
        await disable_endpoint(session, current, "test")

    await refresh_database_gauges(db)
    assert scraped()[("privacy_assistant_outbox_backlog", frozenset())] == 6
    before = {
        (endpoint.id, outcome): deliveries_counter(endpoint, outcome)
        for endpoint in (good, bad, gone)
        for outcome in ("delivered", "failed", "dead")
    }
    failures_before = {endpoint.id: failures_counter(endpoint) for endpoint in (good, bad, gone)}

    worker = OutboxWorker(db, settings=WebhookSettings(allow_private_targets=True))
    try:
        assert await worker.run_once() == 6
    finally:
        await worker.close()

    def gained(endpoint: WebhookEndpoint, outcome: str) -> float:
        return deliveries_counter(endpoint, outcome) - before[(endpoint.id, outcome)]

    assert (gained(good, "delivered"), gained(good, "failed")) == (2, 0)
    assert (gained(bad, "failed"), gained(bad, "delivered")) == (2, 0)
    assert gained(gone, "dead") == 2  # never attempted: the endpoint was disabled
    assert failures_counter(bad) - failures_before[bad.id] == 2
    assert failures_counter(good) == failures_before[good.id]
    assert failures_counter(gone) == failures_before[gone.id]
    # Labels are endpoint ids, never URLs.
    assert "127.0.0.1" not in render()[0].decode()

    await refresh_database_gauges(db)
    # The two failed deliveries wait for their retry; the others are settled.
    assert scraped()[("privacy_assistant_outbox_backlog", frozenset())] == 2


def test_index_gauges_from_the_published_manifest(tmp_path: Path) -> None:
    # Another index before: its shop must not linger in the gauges.
    publish_index(tmp_path / "before", version=3, shops={"old-shop": 5})
    refresh_index_gauges(tmp_path / "before")
    publish_index(tmp_path / "now", version=7, shops={"webstore": 30, "kivismart": 12})
    refresh_index_gauges(tmp_path / "now")
    samples = scraped()
    assert samples[("privacy_assistant_index_version", frozenset())] == 7
    passages = {
        dict(labels)["shop"]: value
        for (name, labels), value in samples.items()
        if name == "privacy_assistant_index_passages"
    }
    assert passages == {"webstore": 30, "kivismart": 12}


def test_histograms_have_the_documented_buckets() -> None:
    ANSWER_CONFIDENCE.observe(0.73)
    text = render()[0].decode()
    assert 'privacy_assistant_answer_confidence_bucket{le="0.8"}' in text
    assert 'privacy_assistant_answer_seconds_bucket{le="0.005"}' in text
    assert 'privacy_assistant_answer_seconds_bucket{le="5.0"}' in text
    assert "privacy_assistant_updates_total" in text
    assert "privacy_assistant_handoffs_total" in text
