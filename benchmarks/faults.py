"""What a fault costs, and whether anything is lost or done twice: `python -m benchmarks.faults`.

Each row injects one fault into the running system, on loopback, with real PostgreSQL and
Redis, and counts what happened to the work that was going on:

- **kill -9 mid-burst**: `python -m backend serve` (REST API and outbox worker) in a
  subprocess is killed with SIGKILL while a shop's backend creates privacy requests, and
  started again at once on the same port;
- **PostgreSQL connections terminated**: in the middle of the burst, every connection to
  the row's database is terminated (`pg_terminate_backend`) twice a second for
  `--fault-seconds`; the API and the worker run in this process;
- **Redis silent**: customers chat with the bot (`python -m bot` replicas in webhook mode,
  started by `scripts/local_cluster.py`) while the replicas' Redis stops answering for
  `--fault-seconds`: their REDIS_URL points at a relay in this process that, while silent,
  accepts connections and reads what is sent but passes nothing on either way, as a frozen
  or cut-off Redis would; afterwards what it held goes through in order;
- **slow Telegram**: the fake Bot API answers every call `--telegram-delay` seconds late for
  `--fault-seconds`, so that a reply takes longer than Telegram waits for the webhook's
  answer and Telegram delivers the update again;
- **slow webhook receiver**: for `--fault-seconds` the shop's receiver answers each delivery
  after 0.5 to 1.5 times the outbox's timeout: about half time out and go again;
- **receiver down for an hour**: the receiver answers 503 to everything while the outbox
  worker's clock (`OutboxWorker(clock=...)`) is moved on through an hour of retries, then
  comes back; the worker runs its passes for real, only the waits between them are skipped.

The shop's backend (API rows) sends `--requests` calls `POST /api/v1/requests` at `--rate`
calls/s, each with its own `Idempotency-Key` and e-mail address, and one more call once the
fault is over; a call that gets no answer, a 5xx or a 429 is sent again with the same key
until it is answered (for a minute at most). Customers (bot rows) are `--chats` closed-loop
chats: `/start <shop>`, then the eval set's questions, each sent when the previous one has
been answered; Telegram is played as it behaves: an update not answered 200 within 10 s
(the fake Bot API's webhook wait) is delivered again, to the next replica, after a pause.

The counts, per row:

- **made**: API calls (one per Idempotency-Key, retries not counted) or Telegram updates
  (one per update_id, re-deliveries not counted);
- **acknowledged**: calls the API answered 201 (first or replayed answer), updates a
  replica answered 200;
- **lost**: acknowledged calls whose two webhook events (`privacy_request.created` and
  `.verified`) did not both reach the receiver, with a valid signature and a 2xx answer,
  by the end of the row; acknowledged updates to which the bot sent no message;
- **duplicated**: privacy requests created more than once for one call (the database has
  two requests for one call's address), events sent for the same change of a request more
  than once (two webhook-ids of one type for one request), deliveries of a webhook-id the
  outbox had already recorded as delivered when it came again; for chats, bot messages
  beyond the one each update gets. A webhook-id that comes again while the outbox has not
  recorded its success (the receiver answered too late, the worker was killed before
  recording it) is at-least-once delivery, which Standard Webhooks receivers absorb by the
  webhook-id: it is counted as **redelivered**, in the notes, not as duplicated;
- **recover**: from the end of the fault (the restart, the last termination, Redis or the
  Bot API answering again, the receiver back) until the system is back to normal: a call
  made after the fault is acknowledged, every acknowledged call's events have arrived and
  the outbox has nothing left to send or send again (for chats: every update sent before
  the end of the fault and one sent after it have been answered; an apology, "something
  went wrong", counts as an answer and is counted in the notes). Where the worker's clock
  was moved on, the simulated seconds skipped are added and shown apart.

The figures describe this machine at this moment; they are printed, never asserted (the
smoke test checks only that nothing is lost or duplicated). Every row has a database of
its own, `bench_faults_<hex>` on 127.0.0.1:5432, dropped at the end; every subprocess is
stopped when the bench ends, whether it finishes, fails, times out or is interrupted.

    python -m benchmarks.faults [--faults kill,postgres,redis,telegram,slow-receiver,
        receiver-down] [--requests 300] [--rate 30] [--chats 6] [--fault-seconds 15]
        [--telegram-delay 6] [--replicas 2] [--redis URL] [--timeout 900] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg  # type: ignore[import-untyped]
from aiohttp import web
from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from backend.api.keys import create_api_key
from backend.api.settings import ApiSettings
from backend.database import Database
from backend.models import PrivacyRequest, WebhookDelivery, utc_now
from backend.privacy_requests.settings import PrivacyRequestSettings
from backend.runtime import backend_running
from backend.webhooks.claims import DUE_STATUSES
from backend.webhooks.settings import WebhookSettings
from backend.webhooks.worker import OutboxWorker
from benchmarks.bot_webhook import APOLOGY_MARKER, ReplyWatchingFake, _load_average, load_questions
from benchmarks.cluster import POSTGRES, _on_postgres
from benchmarks.privacy_api import (
    BenchError,
    Receiver,
    _ProblemCounter,
    _register_endpoint,
    run_and_report,
)
from indexer.build import CACHE_FILE
from tests.support.fake_bot_api import ApiCall
from tests.support.local_cluster import start_cluster

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POSTGRES_DATABASES = "postgresql+asyncpg://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"
SHOP = "webstore"
PSEUDONYM_KEY = "f" * 48
EVENT_TYPES = ("privacy_request.created", "privacy_request.verified")

FAULTS = ("kill", "postgres", "redis", "telegram", "slow-receiver", "receiver-down")
TITLES = {
    "kill": "kill -9 mid-burst, restarted",
    "postgres": "PostgreSQL connections terminated",
    "redis": "Redis silent",
    "telegram": "slow Telegram",
    "slow-receiver": "slow webhook receiver",
    "receiver-down": "receiver down an hour (simulated)",
}

# The outbox as the bench runs it: shorter than the defaults (15 s, 60 s, 1 s) so that a
# row takes seconds; the lease stays three times the timeout, as the defaults keep it.
WEBHOOK_TIMEOUT = 3.0
WEBHOOK_LEASE = 10.0
WEBHOOK_POLL = 0.2
WEBHOOK_BATCH = 20

CALL_TIMEOUT = 10.0  # the shop's client gives one call this long
CALL_PATIENCE = 60.0  # and keeps sending it again for this long
RETRY_PAUSE, RETRY_PAUSE_MAX = 0.2, 2.0
TERMINATE_EVERY = 0.5
DELIVERY_PATIENCE = 90.0  # after the fault, wall seconds to wait for every delivery
DOWN_FOR = timedelta(hours=1)

TELEGRAM_PAUSE = 1.0  # Telegram's pause before delivering an update again
UPDATE_PATIENCE = 120.0  # Telegram gives up an update after this long
REPLY_PATIENCE = 90.0  # a customer waits this long for an answer before asking the next
NORMAL_BEFORE = 3.0  # seconds of chatting before the fault
QUIET_AFTER = 1.5  # seconds to let a late second reply arrive before counting
STARTUP_SECONDS = 600.0  # the cluster's first start may build the index
POLL = 0.05


# ------------------------------------------------------------------------------------------
# A database of its own per row


@contextlib.asynccontextmanager
async def _fresh_database() -> AsyncIterator[str]:
    """A new PostgreSQL database `bench_faults_<hex>` (its async URL), dropped at the end."""
    name = f"bench_faults_{secrets.token_hex(5)}"
    try:
        await _on_postgres(f'CREATE DATABASE "{name}"')
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise BenchError(f"PostgreSQL at {POSTGRES} is not reachable ({exc})") from None
    try:
        yield f"{POSTGRES_DATABASES}/{name}"
    finally:
        await _on_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _terminate_connections(url: str) -> int:
    """Every connection to the database of `url` terminated; how many there were."""
    name = url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(POSTGRES, timeout=5)
    try:
        count = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await connection.close()
    return int(count or 0)


# ------------------------------------------------------------------------------------------
# The outbox worker's clock, which the bench can move on


class ShiftedClock:
    """The real time plus an offset that only grows; `skipped` is the offset."""

    def __init__(self) -> None:
        self.skipped = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.skipped

    def advance(self, by: timedelta) -> None:
        self.skipped += max(by, timedelta(0))


async def _next_claimable(database: Database) -> datetime | None:
    """When the earliest undelivered delivery can next be claimed: its next attempt, or the
    end of a lease a worker left behind, whichever is later."""
    delivery = WebhookDelivery
    moment = func.greatest(
        col(delivery.next_attempt_at),
        func.coalesce(col(delivery.locked_until), col(delivery.next_attempt_at)),
    )
    async with database.session() as session:
        found = await session.scalar(
            select(func.min(moment)).where(col(delivery.status).in_(DUE_STATUSES))
        )
    if isinstance(found, datetime) and found.tzinfo is None:
        found = found.replace(tzinfo=UTC)
    return found if isinstance(found, datetime) else None


# ------------------------------------------------------------------------------------------
# The shop's side: a backend calling the API, and a receiver that can be slow or down


@dataclass
class Call:
    """One call of the shop's backend, sent again until answered."""

    key: str
    email: str
    attempts: int = 0
    request_id: str | None = None
    acknowledged_at: float | None = None  # time.time()
    replayed: bool = False


@dataclass
class ShopBackend:
    """Creates privacy requests through the API, each call with an Idempotency-Key of its
    own; a call with no answer, a 5xx or a 429 goes again with the same key."""

    http: aiohttp.ClientSession
    base: str
    api_key: str
    tag: str
    calls: list[Call] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def acknowledged(self) -> list[Call]:
        return [call for call in self.calls if call.request_id is not None]

    async def burst(self, count: int, rate: float) -> None:
        """`count` calls at `rate` per second, whatever the answers (an open loop)."""
        started = time.monotonic()
        tasks = []
        for number in range(count):
            await asyncio.sleep(max(0.0, started + number / rate - time.monotonic()))
            tasks.append(asyncio.create_task(self.call()))
        await asyncio.gather(*tasks)

    async def call(self) -> Call:
        number = len(self.calls)
        call = Call(
            f"{self.tag}-{number}-{secrets.token_hex(6)}", f"{self.tag}-{number}@example.org"
        )
        self.calls.append(call)
        headers = {"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": call.key}
        body = {"kind": "deletion", "email": call.email}
        give_up = time.monotonic() + CALL_PATIENCE
        while time.monotonic() < give_up:
            call.attempts += 1
            try:
                async with self.http.post(
                    f"{self.base}/api/v1/requests",
                    json=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT),
                ) as response:
                    status, answer = response.status, await response.read()
                    replayed = response.headers.get("Idempotent-Replayed") == "true"
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.errors[type(exc).__name__] += 1
            else:
                if status == 201:
                    call.request_id = str(json.loads(answer)["id"])
                    call.acknowledged_at = time.time()
                    call.replayed = replayed
                    self.answered.set()
                    return call
                self.errors[f"http_{status}"] += 1
                if status < 500 and status != 429:
                    return call  # refused: sending it again would not help
            await asyncio.sleep(min(RETRY_PAUSE * 2 ** (call.attempts - 1), RETRY_PAUSE_MAX))
        return call

    async def until_acknowledged(self, count: int) -> None:
        while len(self.acknowledged) < count:
            self.answered.clear()
            await self.answered.wait()


@dataclass
class FaultyReceiver(Receiver):
    """The signature-checking receiver of benchmarks.privacy_api, which can be down (503)
    or slow, and which looks up, for a webhook-id that comes again, whether the outbox had
    recorded its delivery as done (a duplicate) or not (a redelivery)."""

    down: bool = False
    delay_range: tuple[float, float] | None = None
    observer: Database | None = None
    endpoint_id: str = ""
    calls: int = 0
    refused: int = 0
    answered_late: int = 0  # answered after the worker had stopped waiting
    redelivered: int = 0
    after_delivered: int = 0
    seen: Counter[str] = field(default_factory=Counter)
    rng: random.Random = field(default_factory=random.Random)

    async def _handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.down:
            self.refused += 1
            return web.Response(status=503)
        webhook_id = request.headers.get("webhook-id", "")
        if self.seen[webhook_id]:
            if await self._outbox_status(webhook_id) == "delivered":
                self.after_delivered += 1
            else:
                self.redelivered += 1
        self.seen[webhook_id] += 1
        await request.read()  # kept by aiohttp for the signature check after the wait
        if self.delay_range is not None:
            await asyncio.sleep(self.rng.uniform(*self.delay_range))
        response = await super()._handle(request)
        if request.transport is None or request.transport.is_closing():
            self.answered_late += 1
        return response

    async def _outbox_status(self, webhook_id: str) -> str | None:
        if self.observer is None:
            return None
        for _ in range(10):  # the connection may have been terminated a moment ago
            try:
                async with self.observer.session() as session:
                    status = await session.scalar(
                        select(WebhookDelivery.status)
                        .where(col(WebhookDelivery.event_id) == webhook_id)
                        .where(col(WebhookDelivery.endpoint_id) == self.endpoint_id)
                    )
                    return None if status is None else str(status)
            except (SQLAlchemyError, OSError):
                await asyncio.sleep(0.2)
        return None

    def delivered(self, request_ids: set[str]) -> set[str]:
        """Those of `request_ids` whose events have all arrived."""
        types: dict[str, set[str]] = {}
        for arrival in self.arrivals.values():
            if arrival.request_id in request_ids:
                types.setdefault(arrival.request_id, set()).add(arrival.type)
        return {request_id for request_id, kinds in types.items() if kinds >= set(EVENT_TYPES)}


@dataclass
class ShopWorld:
    """A row's database, API key, receiver and HTTP client, and the backend's address."""

    url: str
    observer: Database
    api_key: str
    receiver: FaultyReceiver
    http: aiohttp.ClientSession
    shop: ShopBackend | None = None

    async def open_shop(self, base: str, tag: str) -> ShopBackend:
        endpoint_id, secret = await _register_endpoint(
            self.http, base, self.api_key, self.receiver.url
        )
        self.receiver.secret, self.receiver.endpoint_id = secret, endpoint_id
        self.shop = ShopBackend(self.http, base, self.api_key, tag)
        return self.shop


@contextlib.asynccontextmanager
async def _shop_world() -> AsyncIterator[ShopWorld]:
    async with _fresh_database() as url:
        observer = Database(url)
        receiver = FaultyReceiver(observer=observer)
        try:
            await observer.migrate()
            async with observer.session() as session:
                _, api_key = await create_api_key(session, SHOP, label="benchmarks.faults")
            await receiver.start()
            async with aiohttp.ClientSession() as http:
                yield ShopWorld(url, observer, api_key, receiver, http)
        finally:
            await receiver.stop()
            await observer.dispose()


def _webhook_settings() -> WebhookSettings:
    return WebhookSettings(
        allow_private_targets=True,
        timeout_seconds=WEBHOOK_TIMEOUT,
        lease_seconds=WEBHOOK_LEASE,
        poll_seconds=WEBHOOK_POLL,
        batch_size=WEBHOOK_BATCH,
    )


@dataclass
class InProcessBackend:
    """The API, and an outbox worker that runs by itself until the bench drives it."""

    base: str
    database: Database
    worker: OutboxWorker
    clock: ShiftedClock
    stop: asyncio.Event
    delivering: asyncio.Task[None]

    async def take_over(self) -> None:
        """The worker stops running by itself: from now on `step` drives it."""
        if not self.stop.is_set():
            self.stop.set()
            await self.delivering

    async def step(self, until: datetime | None = None) -> None:
        """One pass of the worker; when nothing was due, the clock moved on to the next
        delivery that can be claimed (not past `until`)."""
        if await self.worker.run_once():
            return
        moment = await _next_claimable(self.database)
        if until is not None:
            moment = until if moment is None else min(moment, until)
        now = self.clock()
        if moment is not None and moment > now:
            self.clock.advance(moment - now + timedelta(milliseconds=1))
        else:
            await asyncio.sleep(POLL)  # nothing to deliver yet: the API is still at work


@contextlib.asynccontextmanager
async def _in_process_backend(url: str) -> AsyncIterator[InProcessBackend]:
    """The REST API as `python -m backend serve` runs it, beside an outbox worker whose
    clock the bench can move on."""
    database = Database(url)
    settings = _webhook_settings()
    rules = PrivacyRequestSettings().rules(PSEUDONYM_KEY.encode())
    clock = ShiftedClock()
    worker = OutboxWorker(database, settings=settings, clock=clock)
    stop = asyncio.Event()
    try:
        async with backend_running(
            database,
            rules,
            api_settings=ApiSettings(port=0),
            webhook_settings=settings,
            deliver_webhooks=False,
        ) as runtime:
            delivering = asyncio.create_task(worker.run_forever(stop), name="outbox")
            try:
                yield InProcessBackend(
                    f"http://127.0.0.1:{runtime.port}", database, worker, clock, stop, delivering
                )
            finally:
                stop.set()
                await delivering
                await worker.close()
    finally:
        await database.dispose()


class BackendProcess:
    """`python -m backend serve` on a port of its own, which the bench kills and restarts."""

    def __init__(self, url: str, port: int, log: Path) -> None:
        self.port = port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "DATABASE_URL": url,
            "PSEUDONYM_KEY": PSEUDONYM_KEY,
            "API_HOST": "127.0.0.1",
            "API_PORT": str(port),
            "LOG_FORMAT": "json",
            "BACKEND_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "BACKEND_WEBHOOK_TIMEOUT_SECONDS": str(WEBHOOK_TIMEOUT),
            "BACKEND_WEBHOOK_LEASE_SECONDS": str(WEBHOOK_LEASE),
            "BACKEND_WEBHOOK_POLL_SECONDS": str(WEBHOOK_POLL),
            "BACKEND_WEBHOOK_BATCH_SIZE": str(WEBHOOK_BATCH),
        }

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "backend", "serve"],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, http: aiohttp.ClientSession, within: float = 60.0) -> None:
        give_up = time.monotonic() + within
        while time.monotonic() < give_up:
            if self.process is not None and self.process.poll() is not None:
                break
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(f"{self.base}/healthz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
        tail = self.log.read_text(errors="replace")[-2000:]
        raise BenchError(f"python -m backend serve did not start:\n{tail}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    async def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 30)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)


def _free_port() -> int:
    for _ in range(100):
        port = random.randrange(20000, 30000)
        with contextlib.suppress(OSError), socket.socket() as probe:
            probe.bind(("127.0.0.1", port))
            return port
    raise BenchError("no free loopback port")


# ------------------------------------------------------------------------------------------
# The API rows


@dataclass
class Fault:
    """When a fault started and ended (time.time()), and what the bench did."""

    started: float = 0.0
    ended: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)


async def _outbox_backlog(database: Database) -> int | None:
    """Deliveries not yet done (None when the database cannot say just now)."""
    try:
        async with database.session() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(col(WebhookDelivery.status).in_(DUE_STATUSES))
            )
    except (SQLAlchemyError, OSError):
        return None
    return int(count or 0)


async def _recovered(
    world: ShopWorld,
    fault: Fault,
    *,
    step: Callable[[], Awaitable[None]] | None = None,
) -> float | None:
    """After the fault: one new call acknowledged, every acknowledged call's events
    arrived and nothing left in the outbox to send or send again; the moment
    (time.time()) it was so, or None when not within the patience."""
    assert world.shop is not None
    probe = asyncio.create_task(world.shop.call())
    give_up = time.monotonic() + DELIVERY_PATIENCE
    try:
        while time.monotonic() < give_up:
            acknowledged = {call.request_id for call in world.shop.acknowledged if call.request_id}
            if (
                probe.done()
                and world.receiver.delivered(acknowledged) == acknowledged
                and await _outbox_backlog(world.observer) == 0
            ):
                return time.time()
            if step is not None:
                await step()
            else:
                await asyncio.sleep(POLL)
        return None
    finally:
        await probe


async def _api_row(
    world: ShopWorld,
    fault: Fault,
    recovered_at: float | None,
    skipped: timedelta = timedelta(0),
) -> dict[str, Any]:
    """The row's counts, read from the clients, the receiver and the database."""
    shop, receiver = world.shop, world.receiver
    assert shop is not None
    acknowledged = {call.request_id for call in shop.acknowledged if call.request_id}
    lost = len(acknowledged - receiver.delivered(acknowledged))
    by_change: Counter[tuple[str, str]] = Counter(
        (arrival.request_id, arrival.type) for arrival in receiver.arrivals.values()
    )
    events_twice = sum(count - 1 for count in by_change.values())
    async with world.observer.session() as session:
        per_address = list(
            await session.exec(
                select(PrivacyRequest.email_hash, func.count()).group_by(
                    col(PrivacyRequest.email_hash)
                )
            )
        )
    created_twice = sum(count - 1 for _, count in per_address)
    duplicated = created_twice + events_twice + receiver.after_delivered
    notes = {
        **fault.notes,
        "attempts": sum(call.attempts for call in shop.calls),
        "replayed_answers": sum(call.replayed for call in shop.calls),
        "client_errors": dict(shop.errors),
        "requests_in_database": sum(count for _, count in per_address),
        "created_twice": created_twice,
        "events_twice": events_twice,
        "sent_after_delivered": receiver.after_delivered,
        "redelivered": receiver.redelivered,
        "receiver_calls": receiver.calls,
        "receiver_refused": receiver.refused,
        "answered_after_timeout": receiver.answered_late,
        "bad_signatures": receiver.bad_signatures,
    }
    return _row(
        made=len(shop.calls),
        acknowledged=len(acknowledged),
        lost=lost,
        duplicated=duplicated,
        recover_seconds=None if recovered_at is None else recovered_at - fault.ended,
        skipped=skipped,
        notes=notes,
    )


def _row(
    *,
    made: int,
    acknowledged: int,
    lost: int,
    duplicated: int,
    recover_seconds: float | None,
    skipped: timedelta,
    notes: dict[str, Any],
) -> dict[str, Any]:
    return {
        "made": made,
        "acknowledged": acknowledged,
        "lost": lost,
        "duplicated": duplicated,
        "recover_seconds": None if recover_seconds is None else round(recover_seconds, 2),
        "recover_simulated_seconds": round(skipped.total_seconds(), 1),
        "notes": notes,
        "not_run": None,
    }


async def _burst_to_a_third(
    world: ShopWorld, base: str, options: Options, tag: str
) -> tuple[asyncio.Task[None], Fault]:
    """The burst under way, once a third of it is acknowledged; the fault starts now."""
    shop = await world.open_shop(base, tag)
    burst = asyncio.create_task(shop.burst(options.requests, options.rate))
    third = asyncio.create_task(shop.until_acknowledged(options.requests // 3))
    await asyncio.wait([burst, third], return_when=asyncio.FIRST_COMPLETED)
    third.cancel()
    return burst, Fault(started=time.time())


async def _driven_recovery(
    world: ShopWorld, backend: InProcessBackend, fault: Fault
) -> dict[str, Any]:
    """The recovery with the worker driven, its clock moved on over idle waits."""
    await backend.take_over()
    before = backend.clock.skipped
    recovered_at = await _recovered(world, fault, step=backend.step)
    return await _api_row(world, fault, recovered_at, backend.clock.skipped - before)


async def _kill_row(options: Options, logs: Path) -> dict[str, Any]:
    async with _shop_world() as world:
        backend = BackendProcess(world.url, _free_port(), logs / "backend-serve.log")
        try:
            backend.spawn()
            await backend.ready(world.http)
            burst, fault = await _burst_to_a_third(world, backend.base, options, "kill")
            backend.kill()
            backend.spawn()
            fault.ended = time.time()
            await backend.ready(world.http)
            fault.notes["restarted_in_seconds"] = round(time.time() - fault.ended, 2)
            await burst
            recovered_at = await _recovered(world, fault)
        finally:
            await backend.stop()
        return await _api_row(world, fault, recovered_at)


async def _postgres_row(options: Options) -> dict[str, Any]:
    problems = _ProblemCounter()
    logging.getLogger().addHandler(problems)
    try:
        async with _shop_world() as world, _in_process_backend(world.url) as backend:
            burst, fault = await _burst_to_a_third(world, backend.base, options, "postgres")
            terminated, rounds = 0, 0
            while time.time() < fault.started + options.fault_seconds:
                terminated += await _terminate_connections(world.url)
                rounds += 1
                await asyncio.sleep(TERMINATE_EVERY)
            fault.ended = time.time()
            fault.notes.update(terminations=rounds, connections_terminated=terminated)
            await burst
            recovered_at = await _recovered(world, fault)
            fault.notes["app_log"] = dict(problems.levels)
            return await _api_row(world, fault, recovered_at)
    finally:
        logging.getLogger().removeHandler(problems)


async def _slow_receiver_row(options: Options) -> dict[str, Any]:
    async with _shop_world() as world, _in_process_backend(world.url) as backend:
        burst, fault = await _burst_to_a_third(world, backend.base, options, "slow")
        world.receiver.delay_range = (0.5 * WEBHOOK_TIMEOUT, 1.5 * WEBHOOK_TIMEOUT)
        await asyncio.sleep(options.fault_seconds)
        world.receiver.delay_range = None
        fault.ended = time.time()
        await burst
        return await _driven_recovery(world, backend, fault)


async def _receiver_down_row(options: Options) -> dict[str, Any]:
    async with _shop_world() as world, _in_process_backend(world.url) as backend:
        burst, fault = await _burst_to_a_third(world, backend.base, options, "down")
        world.receiver.down = True
        back_at = backend.clock() + DOWN_FOR
        await burst
        await backend.take_over()
        while backend.clock() < back_at:
            await backend.step(until=back_at)
        world.receiver.down = False
        fault.ended = time.time()
        return await _driven_recovery(world, backend, fault)


# ------------------------------------------------------------------------------------------
# The bot rows: customers, Telegram, a Redis that can go silent, a Bot API that can be slow


class RedisGate:
    """A TCP relay to the Redis of `redis_url` that can fall silent: it keeps accepting
    connections and reading, but passes nothing on either way until it speaks again."""

    def __init__(self, redis_url: str) -> None:
        parts = urlsplit(redis_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.path = parts.path
        self.speaking = asyncio.Event()
        self.speaking.set()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self.path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        self.speaking.set()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self._writers += [writer, upstream_writer]
        await asyncio.gather(
            self._pipe(reader, upstream_writer),
            self._pipe(upstream_reader, writer),
            return_exceptions=True,
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self.speaking.wait()
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


class SlowBotApi(ReplyWatchingFake):
    """The fake Bot API of benchmarks.bot_webhook, answering every call `delay` s late."""

    delay = 0.0

    async def _answer(
        self, call: ApiCall, token: str, parse_error: Any
    ) -> tuple[int, dict[str, Any]]:
        if self.delay:
            await asyncio.sleep(self.delay)
        return await super()._answer(call, token, parse_error)


class Telegram:
    """Webhook delivery as Telegram does it behind a balancer: each update to the next
    replica; one not answered 200 (no connection, a 5xx such as "being handled", no answer
    within the wait) goes again, to the next replica, after a pause."""

    def __init__(self, fake: SlowBotApi, urls: Sequence[str]) -> None:
        self.fake = fake
        self._urls = itertools.cycle(urls)
        self.failures: Counter[str] = Counter()

    async def deliver(self, update: dict[str, Any]) -> tuple[float | None, int]:
        """When it was answered 200 (time.monotonic(), or None: given up), and attempts."""
        give_up = time.monotonic() + UPDATE_PATIENCE
        attempts = 0
        while time.monotonic() < give_up:
            attempts += 1
            try:
                status = await self.fake.deliver_webhook(update, url=next(self._urls))
            except AssertionError:
                self.failures["no_connection"] += 1
            except TimeoutError:
                self.failures["no_answer_in_time"] += 1
            else:
                if status == 200:
                    return time.monotonic(), attempts
                self.failures[f"http_{status}"] += 1
            await asyncio.sleep(TELEGRAM_PAUSE)
        return None, attempts


@dataclass
class Update:
    chat: int
    sent_at: float  # time.monotonic(), first delivery
    acknowledged_at: float | None = None
    answered_at: float | None = None
    attempts: int = 0


class Customers:
    """Closed-loop chats: `/start <shop>`, then questions, each once the last is answered."""

    def __init__(self, fake: SlowBotApi, telegram: Telegram, chats: int, first_user: int) -> None:
        self.fake = fake
        self.telegram = telegram
        self.by_shop = load_questions()
        self.shops = sorted(self.by_shop)
        self.users = [first_user + index for index in range(chats)]
        self.updates: list[Update] = []
        self.stopping = asyncio.Event()

    async def chat(self, index: int) -> None:
        user = self.users[index]
        shop = self.shops[index % len(self.shops)]
        await self.ask(user, f"/start {shop}")
        for question in itertools.cycle(self.by_shop[shop][index:] + self.by_shop[shop][:index]):
            if self.stopping.is_set():
                return
            await self.ask(user, question)

    async def ask(self, user: int, text: str) -> None:
        update = self.fake.message_update(text, user_id=user, language_code="en")
        record = Update(user, time.monotonic())
        self.updates.append(record)
        answer: asyncio.Future[ApiCall] = asyncio.get_running_loop().create_future()
        self.fake.waiting[user] = answer
        record.acknowledged_at, record.attempts = await self.telegram.deliver(update)
        if record.acknowledged_at is None:
            self.fake.waiting.pop(user, None)
            return
        try:
            reply = await asyncio.wait_for(answer, REPLY_PATIENCE)
        except TimeoutError:
            self.fake.waiting.pop(user, None)
            return
        record.answered_at = reply.at

    def recovered_at(self, fault_end: float) -> float | None:
        """When every update sent before `fault_end` had its answer (or was given up) and
        one sent after it was answered; None while that is not so."""
        before = [u for u in self.updates if u.sent_at < fault_end]
        after = [u.answered_at for u in self.updates if u.sent_at >= fault_end and u.answered_at]
        if not after or any(u.answered_at is None and not self._given_up(u) for u in before):
            return None
        return max([min(after), *(u.answered_at for u in before if u.answered_at)])

    def _given_up(self, update: Update) -> bool:
        if update.acknowledged_at is None:
            return time.monotonic() > update.sent_at + UPDATE_PATIENCE
        return time.monotonic() > update.acknowledged_at + REPLY_PATIENCE

    def outcome(self) -> tuple[int, int, dict[str, Any]]:
        """Lost and duplicated, from every message the bot sent to these chats: each is
        the answer to the chat's latest update sent before it."""
        replies: Counter[int] = Counter()
        apologies = 0
        by_chat: dict[int, list[int]] = {}
        for number, update in enumerate(self.updates):
            by_chat.setdefault(update.chat, []).append(number)
        for call in self.fake.calls_to("sendMessage"):
            numbers = by_chat.get(call.params.get("chat_id", 0), [])
            earlier = [n for n in numbers if self.updates[n].sent_at <= call.at]
            if earlier:
                replies[earlier[-1]] += 1
                apologies += APOLOGY_MARKER in str(call.params.get("text", ""))
        lost = sum(
            1
            for number, update in enumerate(self.updates)
            if update.acknowledged_at is not None and replies[number] == 0
        )
        duplicated = sum(count - 1 for count in replies.values() if count > 1)
        notes = {
            "deliveries": sum(u.attempts for u in self.updates),
            "telegram_failures": dict(self.telegram.failures),
            "apologies": apologies,
            "given_up_unacknowledged": sum(u.acknowledged_at is None for u in self.updates),
        }
        return lost, duplicated, notes


async def _chat_row(
    customers: Customers,
    fault_seconds: float,
    start_fault: Callable[[], None],
    end_fault: Callable[[], None],
) -> dict[str, Any]:
    chats = [asyncio.create_task(customers.chat(i)) for i in range(len(customers.users))]
    try:
        await asyncio.sleep(NORMAL_BEFORE)
        start_fault()
        await asyncio.sleep(fault_seconds)
        end_fault()
        fault_end = time.monotonic()
        give_up = fault_end + UPDATE_PATIENCE + REPLY_PATIENCE
        while (recovered_at := customers.recovered_at(fault_end)) is None:
            if time.monotonic() > give_up:
                break
            await asyncio.sleep(POLL)
        customers.stopping.set()
        await asyncio.wait(chats, timeout=UPDATE_PATIENCE + REPLY_PATIENCE)
    finally:
        end_fault()
        for chat in chats:
            chat.cancel()
        await asyncio.gather(*chats, return_exceptions=True)
    await asyncio.sleep(QUIET_AFTER)
    lost, duplicated, notes = customers.outcome()
    return _row(
        made=len(customers.updates),
        acknowledged=sum(u.acknowledged_at is not None for u in customers.updates),
        lost=lost,
        duplicated=duplicated,
        recover_seconds=None if recovered_at is None else max(0.0, recovered_at - fault_end),
        skipped=timedelta(0),
        notes=notes,
    )


async def _bot_rows(
    options: Options, wanted: Sequence[str], logs: Path
) -> dict[str, dict[str, Any]]:
    """The Redis and Telegram rows, on one cluster of `python -m bot` replicas."""
    gate = RedisGate(options.redis_url)
    await gate.start()
    # A bot of its own: update claims in Redis are per bot and update id.
    fake = SlowBotApi(token=f"{secrets.randbelow(10**9) + 10**6}:FAULTS")
    rows: dict[str, dict[str, Any]] = {}
    try:
        async with fake, _fresh_database() as url:
            state = logs / "cluster"
            # An embedding cache of the demo policies (this checkout's index, or the one the
            # caller names) saves the cluster's index step embedding them again.
            cache = options.embedding_cache or PROJECT_ROOT / "var" / "index" / CACHE_FILE
            if cache.exists():
                (state / "index").mkdir(parents=True)
                shutil.copy2(cache, state / "index")
            settings = {
                "BOT_TOKEN": fake.token,
                "BOT_API_URL": fake.base_url,
                "WEBHOOK_URL": "http://127.0.0.1:9/telegram/webhook",  # the balancer's
                "WEBHOOK_SECRET": "faults-" + secrets.token_hex(8),
                "BOT_THROTTLE_MESSAGES": "1000000",
                "PSEUDONYM_KEY": PSEUDONYM_KEY,
                "LOG_FORMAT": "json",
                "INDEXER_THREADS": str(max(1, (os.cpu_count() or 1) // options.replicas)),
            }
            cluster = await start_cluster(
                state,
                settings,
                url,
                gate.url,
                replicas=options.replicas,
                startup_seconds=STARTUP_SECONDS,
            )
            try:
                telegram = Telegram(fake, [replica.webhook for replica in cluster.replicas])
                users = itertools.count(700_000, 10_000)
                if "redis" in wanted:
                    customers = Customers(fake, telegram, options.chats, next(users))
                    rows["redis"] = await _chat_row(
                        customers, options.fault_seconds, gate.speaking.clear, gate.speaking.set
                    )
                if "telegram" in wanted:
                    customers = Customers(fake, telegram, options.chats, next(users))

                    def slow() -> None:
                        fake.delay = options.telegram_delay

                    def fast() -> None:
                        fake.delay = 0.0

                    rows["telegram"] = await _chat_row(customers, options.fault_seconds, slow, fast)
            finally:
                await asyncio.to_thread(cluster.stop)
    finally:
        await gate.close()
    return rows


# ------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True)
class Options:
    faults: tuple[str, ...] = FAULTS
    requests: int = 300
    rate: float = 30.0
    chats: int = 6
    fault_seconds: float = 15.0
    telegram_delay: float = 6.0
    embedding_cache: Path | None = None  # None: var/index's, when built
    replicas: int = 2
    redis_url: str = REDIS_URL


def _describe(fault: str, options: Options) -> str:
    seconds = f"{options.fault_seconds:g} s"
    return {
        "kill": "SIGKILL to `python -m backend serve` at a third of the burst, started again",
        "postgres": f"every connection to the database terminated each {TERMINATE_EVERY} s "
        f"for {seconds}",
        "redis": f"the replicas' Redis answers nothing for {seconds}",
        "telegram": f"every Bot API call answered {options.telegram_delay:g} s late for {seconds}",
        "slow-receiver": f"deliveries answered after {0.5 * WEBHOOK_TIMEOUT:g}-"
        f"{1.5 * WEBHOOK_TIMEOUT:g} s (timeout {WEBHOOK_TIMEOUT:g} s) for {seconds}",
        "receiver-down": "503 to every delivery for an hour of the worker's clock",
    }[fault]


def _not_run(reason: str) -> dict[str, Any]:
    return {
        "made": None,
        "acknowledged": None,
        "lost": None,
        "duplicated": None,
        "recover_seconds": None,
        "recover_simulated_seconds": None,
        "notes": {},
        "not_run": reason,
    }


def _redis_missing(redis_url: str) -> str | None:
    parts = urlsplit(redis_url)
    try:
        socket.create_connection((parts.hostname, parts.port or 6379), timeout=3).close()
    except OSError as exc:
        return f"Redis at {parts.hostname}:{parts.port or 6379} is not reachable ({exc})"
    return None


async def run_bench(
    options: Options, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    began, load_start = time.monotonic(), _load_average()
    logs = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    rows: dict[str, dict[str, Any]] = {}
    api_rows: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "kill": lambda: _kill_row(options, logs),
        "postgres": lambda: _postgres_row(options),
        "slow-receiver": lambda: _slow_receiver_row(options),
        "receiver-down": lambda: _receiver_down_row(options),
    }
    try:
        for fault, run_row in api_rows.items():
            if fault in options.faults:
                if progress:
                    progress(f"{fault}: {_describe(fault, options)}")
                rows[fault] = await run_row()
        bot_faults = [fault for fault in ("redis", "telegram") if fault in options.faults]
        if bot_faults:
            if progress:
                progress(f"{', '.join(bot_faults)}: starting {options.replicas} bot replicas")
            reason = _redis_missing(options.redis_url)
            if reason is None:
                rows.update(await _bot_rows(options, bot_faults, logs))
            else:
                rows.update({fault: _not_run(reason) for fault in bot_faults})
    finally:
        shutil.rmtree(logs, ignore_errors=True)
    ordered = []
    for fault in FAULTS:
        if fault in rows:
            ordered.append(
                {"fault": fault, "title": TITLES[fault], "injected": _describe(fault, options)}
                | rows[fault]
            )
    return {
        "bench": "faults",
        "settings": {
            "faults": list(options.faults),
            "requests": options.requests,
            "rate_per_second": options.rate,
            "chats": options.chats,
            "fault_seconds": options.fault_seconds,
            "telegram_delay_seconds": options.telegram_delay,
            "bot_replicas": options.replicas,
            "webhook_timeout_seconds": WEBHOOK_TIMEOUT,
            "webhook_lease_seconds": WEBHOOK_LEASE,
            "webhook_poll_seconds": WEBHOOK_POLL,
        },
        "rows": ordered,
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_average_start": load_start,
            "load_average_end": _load_average(),
        },
        "duration_seconds": round(time.monotonic() - began, 1),
    }


# ------------------------------------------------------------------------------------------
# Output


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60:02d} min"


def _recovery(row: dict[str, Any]) -> str:
    if row["recover_seconds"] is None:
        return "not recovered"
    simulated = row["recover_simulated_seconds"]
    if simulated >= 1:
        total = row["recover_seconds"] + simulated
        return f"{_duration(total)} ({_duration(simulated)} simulated)"
    return _duration(row["recover_seconds"])


def render(result: dict[str, Any]) -> str:
    s, machine = result["settings"], result["machine"]
    lines = [
        f"faults bench: {s['requests']} API calls at {s['rate_per_second']:g}/s per API row, "
        f"{s['chats']} chats on {s['bot_replicas']} bot replicas per chat row; outbox timeout "
        f"{s['webhook_timeout_seconds']:g} s, lease {s['webhook_lease_seconds']:g} s, poll "
        f"{s['webhook_poll_seconds']:g} s; all on 127.0.0.1",
        f"machine: {machine['cpu_count']} CPUs, Python {machine['python']}, load average "
        f"{machine['load_average_start']} at start, {machine['load_average_end']} at end",
        "",
        f"{'fault':<36}{'made':>6}{'acked':>7}{'lost':>6}{'dup':>5}  recover",
    ]
    for row in result["rows"]:
        if row["not_run"]:
            lines.append(f"{row['title']:<36}  not run: {row['not_run']}")
            continue
        lines.append(
            f"{row['title']:<36}{row['made']:>6}{row['acknowledged']:>7}{row['lost']:>6}"
            f"{row['duplicated']:>5}  {_recovery(row)}"
        )
    lines.append("")
    for row in result["rows"]:
        if not row["not_run"]:
            notes = ", ".join(f"{k} {v}" for k, v in row["notes"].items() if v not in ({}, 0))
            lines.append(f"{row['title']}: {row['injected']}; {notes}")
    lines += [
        "",
        "made: API calls (one per Idempotency-Key) or Telegram updates (one per update_id); "
        "acked: answered 201 or 200;",
        "lost: acked, but its webhook events never arrived or the customer got no message; "
        "dup: created, sent or answered twice",
        "(a webhook-id sent again before the outbox recorded it delivered is at-least-once: "
        "'redelivered' in the notes);",
        "recover: from the fault's end until a new call or question is answered and all that "
        "was acked is delivered and answered",
        "(simulated: waits of the outbox worker skipped by moving its clock on)",
        f"total run time {result['duration_seconds']} s",
    ]
    return "\n".join(lines)


def _fault_list(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [fault for fault in chosen if fault not in FAULTS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"a comma-separated list of {', '.join(FAULTS)}")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.faults",
        description="Inject faults into the running system and count what is lost, done "
        "twice, and how long it takes to recover.",
    )
    parser.add_argument("--faults", type=_fault_list, default=FAULTS, help="default: all")
    parser.add_argument("--requests", type=int, default=300, help="API calls per API row")
    parser.add_argument("--rate", type=float, default=30.0, help="API calls per second")
    parser.add_argument("--chats", type=int, default=6, help="customers per chat row")
    parser.add_argument(
        "--fault-seconds",
        type=float,
        default=15.0,
        help="how long a lasting fault lasts (default 15)",
    )
    parser.add_argument(
        "--telegram-delay", type=float, default=6.0, help="seconds a slow Bot API answer takes"
    )
    parser.add_argument("--replicas", type=int, default=2, help="bot replicas (default 2)")
    parser.add_argument("--redis", default=REDIS_URL, help=f"the Redis (default {REDIS_URL})")
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="give up after this many seconds"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not 3 <= args.requests <= 10_000 or not 0 < args.rate <= 1000:
        parser.error("--requests between 3 and 10000, --rate between 0 and 1000")
    if not 1 <= args.chats <= 200 or not 1 <= args.replicas <= 4:
        parser.error("--chats between 1 and 200, --replicas between 1 and 4")
    if not 0 < args.fault_seconds <= 120 or not 0 < args.telegram_delay <= 50:
        parser.error("--fault-seconds up to 120, --telegram-delay up to 50")
    options = Options(
        faults=args.faults,
        requests=args.requests,
        rate=args.rate,
        chats=args.chats,
        fault_seconds=args.fault_seconds,
        telegram_delay=args.telegram_delay,
        replicas=args.replicas,
        redis_url=args.redis,
    )

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    async def bounded() -> dict[str, Any]:
        try:
            async with asyncio.timeout(args.timeout):
                return await run_bench(options, None if args.json else progress)
        except TimeoutError:
            raise BenchError(f"did not finish within --timeout {args.timeout:g} s") from None

    return run_and_report(bounded, as_json=args.json, render=render)


if __name__ == "__main__":
    sys.exit(main())
