"""The outbox worker against a real HTTP receiver on loopback that checks every signature
with the `standardwebhooks` package; time is moved on by a clock, never slept through."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlmodel import col, func, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from backend.database import Database
from backend.models import OutboxEvent, WebhookDelivery, WebhookEndpoint, utc_now
from backend.privacy_requests import start_request
from backend.webhooks import (
    REQUEST_CREATED,
    REQUEST_VERIFIED,
    DeadDelivery,
    OutboxWorker,
    WebhookSettings,
    create_endpoint,
    record_event,
    rotate_secret,
)
from tests.backend.privacy_requests_support import (
    ALICE,
    RULES,
    SHOP,
    ConsoleMailbox,
    started,
    verified,
)

SETTINGS = WebhookSettings(allow_private_targets=True, batch_size=20)


class Clock:
    """The worker's idea of now, moved on by the test."""

    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


class Receiver:
    """A shop's webhook endpoint: verifies each call and answers as the test scripts."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets
        # Cleared: calls are held open (a slow shop) until it is set again.
        self.gate = asyncio.Event()
        self.gate.set()
        self.arrived = asyncio.Event()
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.accepted: list[tuple[str, dict[str, Any]]] = []
        self.signatures: list[str] = []
        self.calls = 0
        self._runner: web.AppRunner | None = None
        self.port = _free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        self.arrived.set()
        await self.gate.wait()
        body = await request.text()
        headers = dict(request.headers)
        self.signatures.append(headers["webhook-signature"])
        for secret in self.secrets:
            try:
                payload = Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            if self.answers:
                status, answer_headers = self.answers.pop(0)
                return web.Response(status=status, headers=answer_headers)
            self.accepted.append((headers["webhook-id"], payload))
            return web.Response(status=204)
        return web.Response(status=400)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def endpoint_for(db: Database, url: str, events: tuple[str, ...] = ("*",)) -> WebhookEndpoint:
    async with db.session() as session:
        return await create_endpoint(session, SHOP, url, events, allow_private_targets=True)


async def event(db: Database, clock: Clock, number: int = 1) -> str:
    async with db.session() as session:
        recorded = await record_event(
            session, SHOP, REQUEST_CREATED, {"request_id": f"pr_{number}"}, now=clock()
        )
    return recorded.id


async def deliveries(db: Database) -> list[WebhookDelivery]:
    async with db.session() as session:
        return list(await session.exec(select(WebhookDelivery)))


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    started_receiver = Receiver([])
    yield started_receiver
    await started_receiver.stop()


async def test_a_verified_request_reaches_the_shop_signed(
    db: Database, clock: Clock, receiver: Receiver
) -> None:
    endpoint = await endpoint_for(db, receiver.url, (REQUEST_VERIFIED,))
    receiver.secrets.append(endpoint.secret)
    await receiver.start()
    request = await verified(db, ConsoleMailbox(), now=clock())
    worker = OutboxWorker(db, worker_id="w1", settings=SETTINGS, clock=clock)
    try:
        assert await worker.run_once() == 1  # only the subscribed type was fanned out
    finally:
        await worker.close()
    [(webhook_id, payload)] = receiver.accepted
    assert webhook_id.startswith("evt_")
    assert payload["type"] == REQUEST_VERIFIED
    assert payload["data"]["request_id"] == request.id
    assert set(payload["data"]) <= {"request_id", "kind", "status", "due_at"}
    [delivery] = await deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 204)
    assert delivery.locked_by is None


async def test_receiver_down_then_up_is_delivered_with_the_same_id(
    db: Database, clock: Clock, receiver: Receiver
) -> None:
    endpoint = await endpoint_for(db, receiver.url)
    receiver.secrets.append(endpoint.secret)
    event_id = await event(db, clock)
    worker = OutboxWorker(db, worker_id="w1", settings=SETTINGS, clock=clock)
    try:
        assert await worker.run_once() == 1  # connection refused
        [delivery] = await deliveries(db)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
            "failed",
            1,
            None,
        )
        wait = delivery.next_attempt_at - clock()
        assert timedelta(seconds=4) <= wait <= timedelta(seconds=6)
        assert await worker.run_once() == 0  # not due yet
        clock.advance(timedelta(seconds=7))
        assert await worker.run_once() == 1  # still down
        [delivery] = await deliveries(db)
        assert timedelta(minutes=4) <= delivery.next_attempt_at - clock() <= timedelta(minutes=6)
        await receiver.start()
        clock.advance(timedelta(minutes=7))
        assert await worker.run_once() == 1
    finally:
        await worker.close()
    assert [webhook_id for webhook_id, _ in receiver.accepted] == [event_id]
    [delivery] = await deliveries(db)
    assert (delivery.status, delivery.attempts) == ("delivered", 3)


@pytest.mark.parametrize("retry_after", ["120", "date"])
async def test_retry_after_is_honoured(
    db: Database, clock: Clock, receiver: Receiver, retry_after: str
) -> None:
    endpoint = await endpoint_for(db, receiver.url)
    receiver.secrets.append(endpoint.secret)
    if retry_after == "date":
        retry_after = (clock() + timedelta(seconds=120)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    receiver.answers.append((429, {"Retry-After": retry_after}))
    await receiver.start()
    await event(db, clock)
    worker = OutboxWorker(db, worker_id="w1", settings=SETTINGS, clock=clock)
    try:
        await worker.run_once()
        [delivery] = await deliveries(db)
        assert delivery.last_status_code == 429
        wait = delivery.next_attempt_at - clock()
        assert timedelta(seconds=119) <= wait <= timedelta(seconds=120)
        clock.advance(timedelta(seconds=60))
        assert await worker.run_once() == 0
        clock.advance(timedelta(seconds=61))
        assert await worker.run_once() == 1
    finally:
        await worker.close()
    assert len(receiver.accepted) == 1


async def test_410_disables_the_endpoint(db: Database, clock: Clock, receiver: Receiver) -> None:
    endpoint = await endpoint_for(db, receiver.url)
    receiver.secrets.append(endpoint.secret)
    receiver.answers.append((410, {}))
    await receiver.start()
    await event(db, clock)
    worker = OutboxWorker(db, worker_id="w1", settings=SETTINGS, clock=clock)
    try:
        await worker.run_once()
    finally:
        await worker.close()
    async with db.session() as session:
        stored = await session.get(WebhookEndpoint, endpoint.id)
    assert stored is not None
    assert (stored.enabled, stored.disabled_reason) == (False, "gone_410")
    [delivery] = await deliveries(db)
    assert delivery.status == "dead"
    await event(db, clock, 2)
    assert len(await deliveries(db)) == 1  # a disabled endpoint gets no new deliveries


async def test_retries_run_out_after_three_days_with_an_alert(
    db: Database, clock: Clock, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = await endpoint_for(db, receiver.url)
    receiver.secrets.append(endpoint.secret)
    receiver.answers.extend([(500, {})] * 50)
    await receiver.start()
    await event(db, clock)
    alerts: list[DeadDelivery] = []

    async def alert(dead: DeadDelivery) -> None:
        alerts.append(dead)

    first = clock()
    worker = OutboxWorker(db, worker_id="w1", settings=SETTINGS, clock=clock, on_dead=alert)
    try:
        with caplog.at_level(logging.ERROR, logger="backend.webhooks.worker"):
            for _ in range(30):
                assert await worker.run_once() == 1
                [delivery] = await deliveries(db)
                if delivery.status == "dead":
                    break
                clock.now = delivery.next_attempt_at
    finally:
        await worker.close()
    assert delivery.status == "dead"
    assert clock() - first <= timedelta(days=3)
    assert 10 <= delivery.attempts == receiver.calls <= 14
    assert [(a.delivery_id, a.endpoint_id) for a in alerts] == [(delivery.id, endpoint.id)]
    [line] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert delivery.id in line.getMessage() and endpoint.id in line.getMessage()


async def test_rotation_signs_with_both_secrets_until_the_overlap_ends(
    db: Database, clock: Clock, receiver: Receiver
) -> None:
    endpoint = await endpoint_for(db, receiver.url)
    old_secret = endpoint.secret
    async with db.session() as session:
        stored = await session.get(WebhookEndpoint, endpoint.id)
        assert stored is not None
        new_secret = await rotate_secret(session, stored, overlap=timedelta(hours=1), now=clock())
    await receiver.start()
    worker = OutboxWorker(db, worker_id="w1", settings=SETTINGS, clock=clock)
    try:
        for number, secret in enumerate([old_secret, new_secret]):
            receiver.secrets[:] = [secret]  # a receiver that knows only one of them
            await event(db, clock, number)
            assert await worker.run_once() == 1
        assert len(receiver.accepted) == 2
        assert all(len(header.split(" ")) == 2 for header in receiver.signatures)
        clock.advance(timedelta(hours=2))
        receiver.secrets[:] = [old_secret]
        await event(db, clock, 3)
        await worker.run_once()
        assert len(receiver.accepted) == 2  # the old secret signs no more
        assert len(receiver.signatures[-1].split(" ")) == 1
    finally:
        await worker.close()


async def test_two_workers_deliver_each_event_exactly_once(
    db: Database, clock: Clock, receiver: Receiver
) -> None:
    count = 200 if db.engine.dialect.name == "postgresql" else 60
    endpoint = await endpoint_for(db, receiver.url)
    receiver.secrets.append(endpoint.secret)
    await receiver.start()
    async with db.session() as session:
        for number in range(count):
            await record_event(session, SHOP, REQUEST_CREATED, {"n": number}, now=clock())
    settings = WebhookSettings(allow_private_targets=True, batch_size=10)
    # Each worker on its own engine, as two processes would be.
    engines = [Database(db.url), Database(db.url)]
    workers = [
        OutboxWorker(engine, worker_id=f"w{i}", settings=settings, clock=clock)
        for i, engine in enumerate(engines)
    ]

    async def drain(worker: OutboxWorker) -> int:
        attempted = 0
        while (claimed := await worker.run_once()) > 0:
            attempted += claimed
        return attempted

    try:
        shares = await asyncio.gather(*(drain(worker) for worker in workers))
    finally:
        for worker, engine in zip(workers, engines, strict=True):
            await worker.close()
            await engine.dispose()
    assert sum(shares) == count
    per_id = Counter(webhook_id for webhook_id, _ in receiver.accepted)
    assert len(per_id) == count and set(per_id.values()) == {1}
    async with db.session() as session:
        delivered = await session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(col(WebhookDelivery.status) == "delivered")
        )
    assert delivered == count


async def test_a_private_target_is_refused_when_not_allowed(
    db: Database, clock: Clock, receiver: Receiver
) -> None:
    endpoint = await endpoint_for(db, receiver.url)  # added while loopback was allowed
    receiver.secrets.append(endpoint.secret)
    await receiver.start()
    await event(db, clock)
    worker = OutboxWorker(db, worker_id="w1", settings=WebhookSettings(), clock=clock)
    try:
        assert await worker.run_once() == 1
    finally:
        await worker.close()
    [delivery] = await deliveries(db)
    assert (delivery.status, delivery.last_error) == ("failed", "target_refused")
    assert receiver.calls == 0


@pytest.mark.parametrize("outcome", ["committed", "rolled_back"])
async def test_the_event_commits_with_the_request_change(
    db: Database, clock: Clock, receiver: Receiver, outcome: str
) -> None:
    await endpoint_for(db, receiver.url)
    mailbox = ConsoleMailbox()
    if outcome == "committed":
        await started(db, mailbox, now=clock())
    else:
        with pytest.raises(RuntimeError):
            async with db.session() as session:
                await start_request(
                    session,
                    SHOP,
                    "access",
                    ALICE,
                    "a@example.org",
                    rules=RULES,
                    now=clock(),
                )
                raise RuntimeError("the change fails after the event was written")
    async with db.session() as session:
        events = list(await session.exec(select(OutboxEvent)))
    expected = 1 if outcome == "committed" else 0
    assert [e.type for e in events] == [REQUEST_CREATED] * expected
    assert len(await deliveries(db)) == expected


async def test_run_forever_delivers_until_stopped(db: Database, receiver: Receiver) -> None:
    endpoint = await endpoint_for(db, receiver.url)
    receiver.secrets.append(endpoint.secret)
    await receiver.start()
    settings = WebhookSettings(allow_private_targets=True, poll_seconds=0.05)
    stop = asyncio.Event()
    running = asyncio.create_task(
        OutboxWorker(db, worker_id="w1", settings=settings).run_forever(stop)
    )
    try:
        await event(db, Clock())
        for _ in range(60):  # at most 3 s
            if receiver.accepted:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)
    assert len(receiver.accepted) == 1


async def test_a_delivery_in_flight_when_stopping_is_finished_and_recorded(
    db: Database, receiver: Receiver
) -> None:
    endpoint = await endpoint_for(db, receiver.url)
    receiver.secrets.append(endpoint.secret)
    await receiver.start()
    receiver.gate.clear()  # the shop answers slowly
    settings = WebhookSettings(allow_private_targets=True, poll_seconds=0.05)
    stop = asyncio.Event()
    await event(db, Clock())
    running = asyncio.create_task(
        OutboxWorker(db, worker_id="w1", settings=settings).run_forever(stop)
    )
    await asyncio.wait_for(receiver.arrived.wait(), 10)
    stop.set()  # SIGTERM while the call is in flight
    await asyncio.sleep(0.2)
    assert not running.done()  # it waits for the shop's answer
    receiver.gate.set()
    await asyncio.wait_for(running, 10)
    [delivery] = await deliveries(db)
    assert delivery.status == "delivered" and len(receiver.accepted) == 1
