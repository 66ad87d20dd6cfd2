"""The REST API's webhook calls over real HTTP: endpoints and their secrets, deliveries
and replays, and signed calls coming in from a shop (forged and replayed ones refused)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col
from standardwebhooks.webhooks import Webhook

from backend.database import Database
from backend.models import WebhookDelivery, utc_now
from tests.backend.api_support import Api, running_api
from tests.backend.privacy_requests_support import SHOP

RECEIVER = "http://127.0.0.1:9/hook"  # never called here: the worker does not run


@pytest.fixture
async def api(db: Database) -> AsyncIterator[Api]:
    async with running_api(db) as running:
        yield running


async def _endpoint(api: Api, events: list[str] | None = None) -> dict:
    status, body, _ = await api.call(
        "POST", "/api/v1/webhook-endpoints", {"url": RECEIVER, "events": events or ["*"]}
    )
    assert status == 201, body
    return body


async def test_an_endpoint_is_added_with_its_secret_shown_once(api: Api) -> None:
    created = await _endpoint(api)
    assert created["secret"].startswith("whsec_") and created["enabled"]
    status, listed, _ = await api.call("GET", "/api/v1/webhook-endpoints")
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    assert listed["items"][0]["secret"] is None
    status, _, _ = await api.call(
        "GET", f"/api/v1/webhook-endpoints/{created['id']}", key=api.other_key
    )
    assert status == 404
    status, body, _ = await api.call(
        "POST", "/api/v1/webhook-endpoints", {"url": RECEIVER, "events": ["order.paid"]}
    )
    assert status == 422 and body["errors"][0]["field"].startswith("events")


async def test_private_targets_are_refused_unless_the_operator_allows_them(db: Database) -> None:
    async with running_api(db, allow_private=False) as api:
        for url in ("http://127.0.0.1:8080/hook", "http://10.1.2.3/hook", "ftp://shop.example/"):
            status, _body, _ = await api.call("POST", "/api/v1/webhook-endpoints", {"url": url})
            assert status == 422, url
        status, listed, _ = await api.call("GET", "/api/v1/webhook-endpoints")
        assert listed["items"] == []


async def test_rotating_the_secret_signs_with_both_for_the_overlap(api: Api) -> None:
    created = await _endpoint(api)
    status, rotated, _ = await api.call(
        "POST", f"/api/v1/webhook-endpoints/{created['id']}/rotate-secret", {"overlap_hours": 2}
    )
    assert status == 200
    assert rotated["secret"] != created["secret"]
    assert rotated["previous_secret_valid_until"] is not None
    status, removed, _ = await api.call("DELETE", f"/api/v1/webhook-endpoints/{created['id']}")
    assert status == 200 and removed["enabled"] is False


async def test_deliveries_are_listed_and_a_dead_one_replayed_with_its_webhook_id(
    api: Api,
) -> None:
    endpoint = await _endpoint(api)
    status, _request, _ = await api.call(
        "POST", "/api/v1/requests", {"kind": "deletion", "email": "anna@example.org"}
    )
    status, page, _ = await api.call("GET", "/api/v1/webhook-deliveries")
    assert status == 200
    assert sorted(item["event_type"] for item in page["items"]) == [
        "privacy_request.created",
        "privacy_request.verified",
    ]
    dead = page["items"][0]
    async with api.database.session() as session:
        await session.exec(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == dead["id"])
            .values(status="dead", attempts=9, next_attempt_at=utc_now() - timedelta(days=3))
        )
    status, page, _ = await api.call("GET", "/api/v1/webhook-deliveries?status=dead")
    assert [item["id"] for item in page["items"]] == [dead["id"]]
    status, replayed, _ = await api.call("POST", f"/api/v1/webhook-deliveries/{dead['id']}/replay")
    assert status == 202 and replayed["status"] == "pending"
    assert replayed["event_id"] == dead["event_id"]  # the event id is the webhook-id
    status, _, _ = await api.call(
        "POST", f"/api/v1/webhook-deliveries/{dead['id']}/replay", key=api.other_key
    )
    assert status == 404
    await api.call("DELETE", f"/api/v1/webhook-endpoints/{endpoint['id']}")
    status, _body, _ = await api.call("POST", f"/api/v1/webhook-deliveries/{dead['id']}/replay")
    assert status == 409
    status, page, _ = await api.call(
        "GET", f"/api/v1/webhook-deliveries?endpoint_id={endpoint['id']}", key=api.other_key
    )
    assert page["items"] == []


def _signed(secret: str, body: dict, webhook_id: str = "msg_1") -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body)
    now = utc_now()
    signature = Webhook(secret).sign(webhook_id, now, raw)
    return raw.encode(), {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }


async def test_a_signed_call_from_the_shop_is_applied_once(api: Api) -> None:
    endpoint = await _endpoint(api)
    _status, request, _ = await api.call(
        "POST", "/api/v1/requests", {"kind": "deletion", "email": "anna@example.org"}
    )
    path = f"/api/v1/shops/{SHOP}/inbound"
    raw, headers = _signed(endpoint["secret"], {"action": "start", "request_id": request["id"]})
    async with api.http.post(api.base + path, data=raw, headers=headers) as response:
        body = await response.json()
        assert response.status == 200, body
        assert body["request"]["status"] == "in_progress"
    # The very same call again: a replay, refused.
    async with api.http.post(api.base + path, data=raw, headers=headers) as response:
        body = await response.json(content_type=None)
        assert response.status == 401 and "replayed" in body["detail"]


async def test_a_forged_or_misdirected_signed_call_is_refused(api: Api) -> None:
    await _endpoint(api)
    _, request, _ = await api.call(
        "POST", "/api/v1/requests", {"kind": "deletion", "email": "anna@example.org"}
    )
    call = {"action": "start", "request_id": request["id"]}
    forged_secret = "whsec_" + "A" * 43 + "="
    raw, headers = _signed(forged_secret, call, "msg_forged")
    for path in (f"/api/v1/shops/{SHOP}/inbound", "/api/v1/shops/kivismart/inbound"):
        async with api.http.post(api.base + path, data=raw, headers=headers) as response:
            assert response.status == 401
    async with api.http.post(
        api.base + f"/api/v1/shops/{SHOP}/inbound", data=raw, headers={"webhook-id": "x"}
    ) as response:
        assert response.status == 401
    _status, still, _ = await api.call("GET", f"/api/v1/requests/{request['id']}")
    assert still["status"] == "verified"


async def test_a_signed_action_that_fails_can_be_sent_again(api: Api) -> None:
    # Issue 12, defect 2: the webhook-id is recorded with the action, so an action that
    # fails (here a completion the request cannot take yet) does not use the id up.
    endpoint = await _endpoint(api)
    _, request, _ = await api.call(
        "POST", "/api/v1/requests", {"kind": "deletion", "email": "anna@example.org"}
    )
    path = f"/api/v1/shops/{SHOP}/inbound"
    call = {
        "action": "complete",
        "request_id": request["id"],
        "outcomes": [{"system": "orders", "outcome": "erased"}],
    }
    raw, headers = _signed(endpoint["secret"], call, "msg_retry")
    async with api.http.post(api.base + path, data=raw, headers=headers) as response:
        assert response.status == 409  # verified, not in progress: nothing applied
    assert (await api.call("POST", f"/api/v1/requests/{request['id']}/start"))[0] == 200
    async with api.http.post(api.base + path, data=raw, headers=headers) as response:
        body = await response.json()
        assert response.status == 200, body
        assert body["request"]["status"] == "completed"
    async with api.http.post(api.base + path, data=raw, headers=headers) as response:
        assert response.status == 401  # applied once: now a replay


async def test_a_body_that_is_not_utf8_gets_a_problem_not_a_500(api: Api) -> None:
    endpoint = await _endpoint(api)
    _, headers = _signed(endpoint["secret"], {"action": "start", "request_id": "x"})
    for raw in (b"\xff\xfe\x00garbage", b"[" * 100_000):
        async with api.http.post(
            api.base + f"/api/v1/shops/{SHOP}/inbound", data=raw, headers=headers
        ) as response:
            assert 400 <= response.status < 500
            assert response.content_type == "application/problem+json"


async def test_a_delivery_being_sent_is_not_replayed_under_its_worker(api: Api) -> None:
    # Issue 12, defect 11: replay cleared a live lease, so a second worker could send the
    # same delivery while the first still was.
    await _endpoint(api)
    await api.call("POST", "/api/v1/requests", {"kind": "deletion", "email": "anna@example.org"})
    _, page, _ = await api.call("GET", "/api/v1/webhook-deliveries")
    held = page["items"][0]
    until = utc_now() + timedelta(seconds=30)
    async with api.database.session() as session:
        await session.exec(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == held["id"])
            .values(locked_by="worker-a", locked_until=until)
        )
    status, body, _ = await api.call("POST", f"/api/v1/webhook-deliveries/{held['id']}/replay")
    assert status == 409 and "being sent" in body["detail"]
    async with api.database.session() as session:
        delivery = await session.get(WebhookDelivery, held["id"])
        assert delivery is not None and delivery.locked_by == "worker-a"
    # Once the lease has run out, it replays.
    async with api.database.session() as session:
        await session.exec(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == held["id"])
            .values(locked_until=utc_now() - timedelta(seconds=1))
        )
    status, _, _ = await api.call("POST", f"/api/v1/webhook-deliveries/{held['id']}/replay")
    assert status == 202
