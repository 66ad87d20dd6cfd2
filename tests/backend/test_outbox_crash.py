"""Fault test of the transactional outbox: `python -m backend serve` killed with SIGKILL
after requests were committed but before their webhooks were delivered, then started
again -> every event reaches the shop, signed, under the webhook-id it had before the kill.

The app runs as a real subprocess (the one a deployment runs); the shop's receiver is an
aiohttp server on loopback in the test's event loop that checks every signature with the
`standardwebhooks` package and can be told to answer 503, to hold calls open, or to accept.

Before the kill the deliveries are in every state a crash can find them in: failed after
an attempt (503), pending and leased by the worker with the call in flight (held open by
the receiver), and pending, never tried. Nothing here is timed: every wait is a bounded
poll for a state, and the figures live in `benchmarks/privacy_api.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp
import pytest
from aiohttp import web
from sqlmodel import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from backend.api.keys import create_api_key
from backend.database import Database, upgrade_to_head
from backend.models import OutboxEvent, WebhookDelivery
from backend.webhooks import REQUEST_CREATED, REQUEST_VERIFIED
from tests.backend.conftest import POSTGRES, SQLITE, fresh_postgres_database

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHOP = "webstore"
REQUESTS_BEFORE = 3  # created while the receiver answers 503
REQUESTS_DURING = 3  # created while the receiver holds calls open
STARTUP_TIMEOUT = 30.0
STATE_TIMEOUT = 20.0
# The worker's lease on a claimed delivery (default 60 s) is what brings a delivery that
# was in flight at the kill back: after it runs out, the next process takes it again.
# A short lease keeps the test fast; the send timeout stays below it, as it must.
LEASE_SECONDS = "4"
SEND_TIMEOUT_SECONDS = "3"


@dataclass(frozen=True)
class Call:
    """One call the receiver got: what it was told to do with it, and what it carried."""

    mode: str
    webhook_id: str
    body: str
    payload: dict[str, Any] | None  # None: the signature did not verify


class Receiver:
    """A shop's webhook endpoint on loopback.

    mode "unavailable": 503 with Retry-After: 1 (the worker honours it, so the next attempt
    is a second away rather than the 5 s back-off, which has tests of its own); "hold": keep the call open until the mode
    changes (the sender's attempt is in flight); "up": 204. Every call is recorded, and
    verified with `secret` (set once the endpoint is registered).
    """

    def __init__(self) -> None:
        self.port = 0
        self.secret: str | None = None
        self.mode = "unavailable"
        self.calls: list[Call] = []
        self._mode_changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def switch(self, mode: str) -> None:
        self.mode = mode
        self._mode_changed.set()
        self._mode_changed = asyncio.Event()

    def held(self) -> int:
        return sum(1 for call in self.calls if call.mode == "hold")

    def accepted(self) -> list[Call]:
        return [call for call in self.calls if call.mode == "up"]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        self.port = await listen_below_10000(self._runner)

    async def stop(self) -> None:
        self.switch("stopped")  # lets held calls end
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        headers = dict(request.headers)
        payload: dict[str, Any] | None = None
        if self.secret is not None:
            try:
                payload = Webhook(self.secret).verify(body, headers)
            except WebhookVerificationError:
                payload = None
        mode = self.mode
        self.calls.append(Call(mode, headers.get("webhook-id", ""), body, payload))
        if mode == "up":
            return web.Response(status=204)
        if mode == "hold":
            await self._mode_changed.wait()
        return web.Response(status=503, headers={"Retry-After": "1"})


async def listen_below_10000(runner: web.AppRunner) -> int:
    """Listen on a free loopback port under 10000, the port the site got.

    The API's form check of an endpoint URL (`CreateEndpoint.url`) takes a port of at most
    four digits, and the OS hands out ephemeral ports above that.
    """
    for _ in range(100):
        port = random.randrange(2000, 10000)
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
        except OSError:
            continue
        return port
    raise AssertionError("no free loopback port under 10000")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(params=[SQLITE, POSTGRES])
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, migrated database of its own: the app processes and the test share it."""
    if request.param == SQLITE:
        url = f"sqlite+aiosqlite:///{tmp_path / 'crash.sqlite3'}"
        upgrade_to_head(url)
        yield url
    else:
        with fresh_postgres_database() as url:
            upgrade_to_head(url)
            yield url


def _log_file(path: Path) -> IO[bytes]:
    return path.open("wb")


class App:
    """`python -m backend serve` as a subprocess, its output in a file."""

    def __init__(self, database_url: str, log: Path) -> None:
        self.database_url = database_url
        self.log = log
        self.port = _free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        # Nothing of the developer's own API_/BACKEND_ settings leaks in.
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("API_", "BACKEND_", "PRIVACY_", "SMTP_"))
        }
        env.update(
            DATABASE_URL=self.database_url,
            PSEUDONYM_KEY="k" * 32,
            API_HOST="127.0.0.1",
            API_PORT=str(self.port),
            BACKEND_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
            BACKEND_WEBHOOK_POLL_SECONDS="0.2",
            BACKEND_WEBHOOK_LEASE_SECONDS=LEASE_SECONDS,
            BACKEND_WEBHOOK_TIMEOUT_SECONDS=SEND_TIMEOUT_SECONDS,
            PYTHONUNBUFFERED="1",
        )
        return env

    async def start(self, http: aiohttp.ClientSession) -> None:
        output = _log_file(self.log)
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "backend",
                "serve",
                cwd=PROJECT_ROOT,
                env=self.environment(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=output,
            )
        finally:
            output.close()  # the child has its own copy

        async def answering() -> bool:
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(f"serve exited early:\n{self.output()}")
            try:
                async with http.get(f"{self.base}/openapi.json") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(answering, STARTUP_TIMEOUT, "the API to answer", self)

    async def kill(self) -> None:
        """SIGKILL: no handler runs, no lease is given back, nothing is flushed."""
        if self.process is not None and self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGKILL)
            await self.process.wait()

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


async def wait_for(
    condition: Callable[[], Awaitable[bool]], seconds: float, what: str, *apps: App
) -> None:
    """Poll `condition` until it holds; fail, with the apps' output, after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await condition():
        if loop.time() > deadline:
            logs = "\n".join(f"--- {app.log.name}:\n{app.output()}" for app in apps)
            raise AssertionError(f"gave up after {seconds:.0f} s waiting for {what}\n{logs}")
        await asyncio.sleep(0.1)


async def deliveries(db: Database) -> list[WebhookDelivery]:
    async with db.session() as session:
        return list(await session.exec(select(WebhookDelivery)))


async def events(db: Database) -> dict[str, OutboxEvent]:
    async with db.session() as session:
        return {event.id: event for event in await session.exec(select(OutboxEvent))}


@contextlib.asynccontextmanager
async def running(receiver: Receiver, *apps: App) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for app in apps:
            await app.kill()
        await receiver.stop()


async def test_serve_killed_between_commit_and_delivery_loses_nothing(
    migrated_url: str, tmp_path: Path
) -> None:
    db = Database(migrated_url)
    async with db.session() as session:
        _, key = await create_api_key(session, SHOP, label="crash test")
    auth = {"Authorization": f"Bearer {key}"}
    receiver = Receiver()
    await receiver.start()
    first = App(migrated_url, tmp_path / "serve-1.log")
    second = App(migrated_url, tmp_path / "serve-2.log")
    request_ids: list[str] = []

    async def create_requests(http: aiohttp.ClientSession, count: int) -> None:
        for _ in range(count):
            number = len(request_ids) + 1
            async with http.post(
                f"{first.base}/api/v1/requests",
                json={"kind": "deletion", "email": f"customer{number}@example.org"},
                headers=auth,
            ) as response:
                answer = await response.text()
                assert response.status == 201, answer
                request_ids.append(json.loads(answer)["id"])

    try:
        async with running(receiver, first, second), aiohttp.ClientSession() as http:
            await first.start(http)
            async with http.post(
                f"{first.base}/api/v1/webhook-endpoints",
                json={"url": receiver.url, "events": ["*"]},
                headers=auth,
            ) as response:
                answer = await response.text()
                assert response.status == 201, answer
                receiver.secret = json.loads(answer)["secret"]

            # 1. The shop is unavailable: every attempt fails, the events stay in the outbox.
            await create_requests(http, REQUESTS_BEFORE)

            async def all_failed_once() -> bool:
                rows = await deliveries(db)
                return len(rows) == 2 * REQUESTS_BEFORE and all(
                    row.status == "failed" and row.attempts >= 1 for row in rows
                )

            await wait_for(all_failed_once, STATE_TIMEOUT, "a failed attempt of each", first)

            # 2. The shop holds calls open: the worker is mid-send, its claims leased,
            # when more requests commit behind it.
            receiver.switch("hold")

            async def call_held() -> bool:
                return receiver.held() >= 1

            await wait_for(call_held, STATE_TIMEOUT, "a call in flight", first)
            await create_requests(http, REQUESTS_DURING)

            # Committed and not delivered, in the database, at the moment of the kill.
            before = await deliveries(db)
            committed = await events(db)
            total = 2 * (REQUESTS_BEFORE + REQUESTS_DURING)
            assert len(committed) == total
            assert sorted(row.event_id for row in before) == sorted(committed)
            statuses = Counter(row.status for row in before)
            assert set(statuses) == {"pending", "failed"}, statuses
            assert any(row.locked_by is not None for row in before)  # in flight
            await first.kill()

            # 3. The shop is back; a new process takes over the same database.
            receiver.switch("up")
            await second.start(http)

            async def all_delivered() -> bool:
                rows = await deliveries(db)
                return len(rows) == total and all(row.status == "delivered" for row in rows)

            await wait_for(all_delivered, STATE_TIMEOUT, "every delivery to succeed", second)
            after = {row.id: row for row in await deliveries(db)}
    finally:
        await db.dispose()

    # Every call carried a valid signature of the endpoint's secret.
    assert all(call.payload is not None for call in receiver.calls), [
        call.webhook_id for call in receiver.calls if call.payload is None
    ]
    # Every event arrived, once (nothing was acknowledged before the kill), and nothing else.
    accepted = receiver.accepted()
    assert Counter(call.webhook_id for call in accepted) == Counter(set(committed))
    # Created and verified for each request made through the API.
    arrived = {
        (payload["type"], payload["data"]["request_id"])
        for payload in (call.payload for call in accepted)
        if payload is not None
    }
    assert arrived == {
        (kind, request_id)
        for request_id in request_ids
        for kind in (REQUEST_CREATED, REQUEST_VERIFIED)
    }
    # A retried delivery carries the id and the very body of its earlier attempts.
    final_body = {call.webhook_id: call.body for call in accepted}
    tried_before = [call for call in receiver.calls if call.mode in ("unavailable", "hold")]
    assert {call.webhook_id for call in tried_before} >= {
        row.event_id for row in before if row.attempts >= 1
    }
    for call in tried_before:
        assert final_body[call.webhook_id] == call.body, call.webhook_id
    # The database agrees: each failed earlier and was retried after the restart.
    for row in before:
        if row.attempts >= 1:
            assert after[row.id].attempts > row.attempts, row.id
