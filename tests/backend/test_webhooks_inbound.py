"""Signed calls from shops are accepted once; forged, stale and replayed ones are refused.
And the server calls no private, loopback or link-local address unless allowed to."""

from __future__ import annotations

import ipaddress
import json
import random
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from sqlmodel import select
from standardwebhooks.webhooks import Webhook

from backend.database import Database
from backend.models import InboundWebhookId, utc_now
from backend.webhooks import (
    InboundWebhookRejectedError,
    TargetRefusedError,
    authenticate_inbound,
    check_target,
    create_endpoint,
    new_secret,
    remember_call,
)
from backend.webhooks.schedule import parse_retry_after, retry_delay
from backend.webhooks.targets import CheckedResolver, is_public

SECRET = new_secret()
BODY = json.dumps({"type": "privacy_request.completed", "data": {"request_id": "pr_1"}})


def signed(
    body: str = BODY, *, secret: str = SECRET, webhook_id: str = "msg_1", at: datetime | None = None
) -> dict[str, str]:
    at = at or utc_now()
    return {
        "Webhook-Id": webhook_id,
        "Webhook-Timestamp": str(int(at.timestamp())),
        "Webhook-Signature": Webhook(secret).sign(webhook_id, at, body),
    }


async def accepted(
    db: Database, headers: dict[str, str], body: str | bytes, *, now: datetime | None = None
) -> Any:
    """The call authenticated and its id remembered, as the API does (in one transaction)."""
    now = now or utc_now()
    call = authenticate_inbound(headers, body, SECRET, now=now)
    async with db.session() as session:
        await remember_call(session, call, now=now)
    return call.body


async def test_a_genuine_call_is_accepted_once(db: Database) -> None:
    payload = await accepted(db, signed(), BODY.encode())
    assert payload["data"] == {"request_id": "pr_1"}
    with pytest.raises(InboundWebhookRejectedError) as replay:
        await accepted(db, signed(), BODY.encode())
    assert replay.value.reason == "replayed"


async def test_forged_and_stale_calls_are_refused(db: Database) -> None:
    cases = [
        (signed(secret=new_secret()), BODY, "bad_signature"),
        (signed(), BODY.replace("pr_1", "pr_2"), "bad_signature"),
        (signed(at=utc_now() - timedelta(minutes=6)), BODY, "timestamp_out_of_tolerance"),
        (signed(at=utc_now() + timedelta(minutes=6)), BODY, "timestamp_out_of_tolerance"),
        ({"webhook-id": "msg_1"}, BODY, "missing_headers"),
        ({**signed(), "Webhook-Signature": "v1,not-base64!"}, BODY, "bad_signature"),
    ]
    for headers, body, reason in cases:
        with pytest.raises(InboundWebhookRejectedError) as refused:
            await accepted(db, headers, body)
        assert refused.value.reason == reason
    # None of the refused calls used up the id: the genuine one still passes.
    await accepted(db, signed(), BODY)


async def test_a_remembered_id_is_forgotten_once_its_timestamp_would_fail(db: Database) -> None:
    then = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    await accepted(db, signed(at=then), BODY, now=then)
    later = then + timedelta(minutes=10)
    with pytest.raises(InboundWebhookRejectedError) as stale:
        await accepted(db, signed(at=then), BODY, now=later)
    assert stale.value.reason == "timestamp_out_of_tolerance"
    await accepted(db, signed(webhook_id="msg_2", at=later), BODY, now=later)
    async with db.session() as session:
        kept = [row.webhook_id for row in await session.exec(select(InboundWebhookId))]
    assert kept == ["msg_2"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://localhost/hooks",
        "http://10.1.2.3/hooks",
        "http://192.168.0.10/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://0.0.0.0/hooks",
        # Issue 12, defect 3: these were accepted.
        "http://100.100.100.200/latest/meta-data",
        "http://[2002:c0a8:101::1]/hooks",
        "http://[2002:808:808::1]/hooks",
        "http://[fec0::1]/hooks",
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hooks",
        "http://[64:ff9b::a00:1]/hooks",
    ],
)
async def test_private_targets_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(TargetRefusedError):
        await check_target(url, allow_private=False)
    await check_target(url, allow_private=True)


@pytest.mark.parametrize("url", ["ftp://example.org/", "http:///x", "http://u:p@example.org/"])
async def test_malformed_targets_are_refused_even_when_private_is_allowed(url: str) -> None:
    with pytest.raises(TargetRefusedError):
        await check_target(url, allow_private=True)


async def test_an_endpoint_with_a_private_url_is_not_added(db: Database) -> None:
    with pytest.raises(TargetRefusedError):
        async with db.session() as session:
            await create_endpoint(session, "webstore", "http://127.0.0.1:9/hooks")


def test_retry_schedule_and_retry_after() -> None:
    rng = random.Random(4)
    expected = [5, 300, 1800, 7200, 18000, 36000, 36000]
    for attempt, seconds in enumerate(expected, start=1):
        delay = retry_delay(attempt, rng).total_seconds()
        assert seconds * 0.8 <= delay <= seconds * 1.2
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("30", now) == timedelta(seconds=30)
    assert parse_retry_after("Sun, 01 Mar 2026 12:02:00 GMT", now) == timedelta(minutes=2)
    assert parse_retry_after("999999", now) == timedelta(hours=10)
    assert parse_retry_after("soon", now) is None


class _RebindingResolver(AbstractResolver):
    """Answers a public address the first time and loopback afterwards, as a DNS
    rebinding attack would."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.calls = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls += 1
        address = "93.184.215.14" if self.calls == 1 else "127.0.0.1"
        return [
            {
                "hostname": host,
                "host": address,
                "port": self.port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        return None


async def test_the_address_connected_to_is_the_one_checked() -> None:
    # A receiver on loopback stands for the internal service the attacker aims at.
    hits: list[str] = []

    async def receive(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="internal")

    app = web.Application()
    app.router.add_post("/hooks", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = _RebindingResolver(port)
    connector = aiohttp.TCPConnector(
        resolver=CheckedResolver(allow_private=False, base=base), use_dns_cache=False
    )
    try:
        async with aiohttp.ClientSession(connector=connector) as http:
            # The first look-up (public) would pass a separate check; the connection's own
            # look-up is the rebinding one, and it is refused before any byte is sent.
            assert is_public(ipaddress.ip_address((await base.resolve("hook.example"))[0]["host"]))
            with pytest.raises(aiohttp.ClientError):
                await http.post(f"http://hook.example:{port}/hooks", data=b"{}")
        assert hits == []
    finally:
        await runner.cleanup()
