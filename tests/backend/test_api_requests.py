"""The REST API's privacy-request calls over real HTTP on loopback, on SQLite and
PostgreSQL: keys and their scope, each step of a request, errors as problem documents."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlmodel import func, select

from backend.database import Database
from backend.models import AccessExport, IdempotencyRecord, PrivacyRequest
from backend.privacy_requests.exports import issue_link
from backend.privacy_requests.settings import RequestRules
from tests.backend.api_support import Api, running_api
from tests.backend.privacy_requests_support import RULES, SHOP, ConsoleMailbox, verified

PROBLEM = "application/problem+json"


@pytest.fixture
async def api(db: Database) -> AsyncIterator[Api]:
    async with running_api(db) as running:
        yield running


async def _count(db: Database, model: type) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _create(api: Api, kind: str = "deletion", email: str = "anna@example.org") -> dict:
    status, body, _ = await api.call("POST", "/api/v1/requests", {"kind": kind, "email": email})
    assert status == 201, body
    return body


async def test_a_call_without_a_valid_key_gets_401_and_no_data(api: Api) -> None:
    await _create(api)
    for headers in ({}, {"Authorization": "Bearer pha_wrong"}, {"Authorization": "Basic x"}):
        async with api.http.get(api.base + "/api/v1/requests", headers=headers) as response:
            assert response.status == 401
            assert response.content_type == PROBLEM
            assert response.headers["WWW-Authenticate"] == "Bearer"
            body = await response.json(content_type=None)
            assert "items" not in body and "anna" not in json.dumps(body)


async def test_a_key_never_sees_another_shops_requests(api: Api) -> None:
    mine = await _create(api)
    status, page, _ = await api.call("GET", "/api/v1/requests", key=api.other_key)
    assert status == 200 and page["items"] == []
    for method, path in (
        ("GET", f"/api/v1/requests/{mine['id']}"),
        ("POST", f"/api/v1/requests/{mine['id']}/start"),
    ):
        status, body, response = await api.call(method, path, key=api.other_key)
        assert status == 404 and response.content_type == PROBLEM
        assert body["detail"] == f"privacy request {mine['id']!r} not found"
    async with api.database.session() as session:
        request = await session.get(PrivacyRequest, mine["id"])
    assert request is not None and request.status == "verified"


async def test_created_on_behalf_starts_verified_with_the_address_for_the_shop(api: Api) -> None:
    body = await _create(api, email="  Anna@Example.ORG ")
    assert body["status"] == "verified" and body["verification"] == "shop"
    assert body["email"] == "anna@example.org"
    assert body["deadline"] is not None
    status, again, _ = await api.call("GET", f"/api/v1/requests/{body['id']}")
    assert status == 200 and again == body


async def test_an_idempotency_key_creates_once_and_replays_the_answer(api: Api) -> None:
    call = {"kind": "access", "email": "anna@example.org"}
    key = {"Idempotency-Key": "order-7-access"}
    first = await api.call("POST", "/api/v1/requests", call, headers=key)
    second = await api.call("POST", "/api/v1/requests", call, headers=key)
    assert first[0] == second[0] == 201
    assert first[1] == second[1]
    assert second[2].headers["Idempotent-Replayed"] == "true"
    assert await _count(api.database, PrivacyRequest) == 1
    status, body, _ = await api.call(
        "POST", "/api/v1/requests", {**call, "kind": "deletion"}, headers=key
    )
    assert status == 422 and "Idempotency-Key" in body["title"]
    assert await _count(api.database, PrivacyRequest) == 1
    assert await _count(api.database, IdempotencyRecord) == 1


async def test_bad_bodies_get_clear_problems_and_change_nothing(api: Api) -> None:
    cases = [
        ({"kind": "deletion", "email": "not an address"}, 422, "not an e-mail address"),
        ({"kind": "erase-me", "email": "anna@example.org"}, 422, "kind"),
        ({"kind": "deletion"}, 422, "email"),
        ({"kind": "deletion", "email": "a@b.cz", "extra": 1}, 422, "extra"),
    ]
    for body, status, needle in cases:
        got, problem, response = await api.call("POST", "/api/v1/requests", body)
        assert got == status and response.content_type == PROBLEM
        assert needle in problem["detail"], problem
    async with api.http.post(
        api.base + "/api/v1/requests",
        data=b"{nope",
        headers={**api.auth(), "Content-Type": "application/json"},
    ) as response:
        assert response.status == 400
    assert await _count(api.database, PrivacyRequest) == 0


async def test_a_deletion_is_worked_through_with_per_system_outcomes(api: Api) -> None:
    request = await _create(api)
    path = f"/api/v1/requests/{request['id']}"
    status, body, _ = await api.call("POST", f"{path}/complete", {"outcomes": []})
    assert status == 409  # not started yet: verified -> completed is no transition
    assert (await api.call("POST", f"{path}/start"))[0] == 200
    status, body, _ = await api.call(
        "POST", f"{path}/outcomes", {"outcomes": [{"system": "orders", "outcome": "retained"}]}
    )
    assert status == 422 and "legal basis" in body["detail"]
    status, body, _ = await api.call(
        "POST",
        f"{path}/outcomes",
        {"outcomes": [{"system": "newsletter", "outcome": "failed"}]},
    )
    assert status == 200 and body["status"] == "in_progress"
    status, body, _ = await api.call("POST", f"{path}/complete", {})
    assert status == 409 and "failed" in body["detail"]
    status, body, _ = await api.call(
        "POST",
        f"{path}/complete",
        {
            "outcomes": [
                {"system": "newsletter", "outcome": "erased"},
                {"system": "shop accounts", "outcome": "no_match"},
                {
                    "system": "orders",
                    "outcome": "retained",
                    "legal_basis": "Accounting Act § 31: invoices are kept 10 years",
                    "retained_until": "2036-12-31",
                },
            ]
        },
    )
    assert status == 200, body
    assert body["status"] == "completed" and body["closed_at"]
    assert {entry["system"]: entry["outcome"] for entry in body["outcomes"]} == {
        "newsletter": "erased",
        "shop accounts": "no_match",
        "orders": "retained",
    }


async def test_an_extension_needs_a_reason_and_at_most_two_months(api: Api) -> None:
    request = await _create(api)
    path = f"/api/v1/requests/{request['id']}"
    status, body, _ = await api.call("POST", f"{path}/extend", {"months": 3, "reason": "busy"})
    assert status == 422
    status, body, _ = await api.call("POST", f"{path}/extend", {"months": 1, "reason": " "})
    assert status == 422 and "reason" in body["detail"]
    status, body, _ = await api.call(
        "POST", f"{path}/extend", {"months": 2, "reason": "Data spread over 4 warehouses"}
    )
    assert status == 200
    assert body["extension_months"] == 2 and body["deadline"] > request["deadline"]
    status, body, _ = await api.call("POST", f"{path}/extend", {"months": 1, "reason": "more"})
    assert status == 409 and "two months" in body["detail"]


async def test_pause_and_resume_move_the_deadline(api: Api) -> None:
    request = await _create(api)
    path = f"/api/v1/requests/{request['id']}"
    status, paused, _ = await api.call("POST", f"{path}/pause")
    assert status == 200 and paused["paused"] is True
    assert (await api.call("POST", f"{path}/pause"))[0] == 409
    status, resumed, _ = await api.call("POST", f"{path}/resume")
    assert status == 200 and resumed["paused"] is False
    assert resumed["deadline"] >= request["deadline"]


async def test_a_denial_needs_a_known_reason_code_and_a_text(api: Api) -> None:
    request = await _create(api)
    path = f"/api/v1/requests/{request['id']}/deny"
    status, body, _ = await api.call("POST", path, {"reason_code": "nope", "reason_text": "x"})
    assert status == 422 and body["errors"][0]["field"] == "reason_code"
    status, body, _ = await api.call(
        "POST",
        path,
        {"reason_code": "no_customer_match", "reason_text": "We hold no data for this address."},
    )
    assert status == 200 and body["status"] == "denied"
    assert body["denial_reason_code"] == "no_customer_match"
    assert (await api.call("POST", path, {"reason_code": "other", "reason_text": "x"}))[0] == 409


async def test_an_access_export_over_the_limit_is_refused_and_nothing_stored(
    db: Database,
) -> None:
    from backend.api.settings import ApiSettings

    async with running_api(db, ApiSettings(export_max_bytes=1000)) as api:
        request = await _create(api, kind="access")
        path = f"/api/v1/requests/{request['id']}/export"
        await api.call("POST", f"/api/v1/requests/{request['id']}/start")
        status, body, response = await api.call(
            "PUT", path, data=b"x" * 1001, headers={"Content-Type": "application/json"}
        )
        assert status == 413 and response.content_type == PROBLEM
        assert "1000 bytes" in body["detail"]
        status, body, _ = await api.call(
            "PUT", path, data=b"MZ\x90\x00", headers={"Content-Type": "application/x-msdownload"}
        )
        assert status == 415
        assert await _count(db, AccessExport) == 0
        status, body, _ = await api.call("POST", f"/api/v1/requests/{request['id']}/complete", {})
        assert status == 422 and "export" in body["detail"]


async def test_an_access_export_is_downloaded_once_through_its_link(api: Api) -> None:
    request = await _create(api, kind="access")
    rid = request["id"]
    await api.call("POST", f"/api/v1/requests/{rid}/start")
    data = {"customer": {"name": "Anna <b>Nováková</b>"}, "orders": [{"id": 17, "total": 9.5}]}
    status, export, _ = await api.call(
        "PUT",
        f"/api/v1/requests/{rid}/export?filename=anna.json",
        data=json.dumps(data).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 201 and export["size"] > 0 and export["filename"] == "anna.json"
    status, done, _ = await api.call("POST", f"/api/v1/requests/{rid}/complete", {})
    assert status == 200 and done["export"]["id"] == export["id"]
    # The list shows each access request with its export (read for the page at once).
    other = await _create(api, kind="access")
    status, page, _ = await api.call("GET", "/api/v1/requests?kind=access")
    exports = {item["id"]: item["export"] for item in page["items"]}
    assert exports[rid]["id"] == export["id"] and exports[other["id"]] is None
    async with api.database.session() as session:
        stored = (await session.exec(select(AccessExport))).one()
        token = await issue_link(session, stored, policy=api_policy(), now=_now())
    # Opening the link (as a mail scanner or a link preview would) uses nothing up.
    for _ in range(2):
        async with api.http.get(f"{api.base}/exports/{token}") as response:
            landing = await response.text()
            assert response.status == 200 and '<form method="post">' in landing
            assert "Nováková" not in landing
    async with api.http.post(f"{api.base}/exports/{token}") as response:
        page = await response.text()
        assert response.status == 200 and response.content_type == "text/html"
        assert response.headers["Cache-Control"] == "no-store"
    assert "Anna &lt;b&gt;Nováková&lt;/b&gt;" in page and "<b>Nováková" not in page
    assert 'download="anna.json"' in page
    for method in ("GET", "POST"):
        async with api.http.request(method, f"{api.base}/exports/{token}") as response:
            assert response.status == 410
        async with api.http.request(method, f"{api.base}/exports/not-a-token") as response:
            assert response.status == 410


def api_policy():  # type: ignore[no-untyped-def]
    from backend.api.settings import ApiSettings

    return ApiSettings().export_policy()


def _now():  # type: ignore[no-untyped-def]
    from backend.models import utc_now

    return utc_now()


async def test_a_request_the_customer_started_is_listed_and_filtered(
    api: Api, mailbox: ConsoleMailbox
) -> None:
    chat = await verified(api.database, mailbox, kind="access")
    await _create(api, kind="deletion")
    status, page, _ = await api.call("GET", "/api/v1/requests?kind=access")
    assert status == 200 and [item["id"] for item in page["items"]] == [chat.id]
    assert page["items"][0]["verification"] == "email"
    assert page["items"][0]["email"] == "anna@example.org"
    status, page, _ = await api.call("GET", "/api/v1/requests?status=completed")
    assert page["items"] == []
    status, page, _ = await api.call("GET", "/api/v1/requests?due_before=2000-01-01")
    assert page["items"] == []
    status, page, _ = await api.call("GET", "/api/v1/requests?limit=1")
    assert len(page["items"]) == 1 and page["next_cursor"]
    status, rest, _ = await api.call(
        "GET", f"/api/v1/requests?limit=1&cursor={page['next_cursor']}"
    )
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert rest["items"][0]["id"] != page["items"][0]["id"]
    for query in (
        "status=done",
        "kind=x",
        "due_before=soon",
        "limit=0",
        "cursor=%%%",
        # Issue 12, defect 7: these answered 500.
        "limit=%C2%B2",
        "due_before=0001-01-01T00:00:00%2B01:00",
        "due_before=9999-12-31T23:59:59-01:00",
    ):
        status, _problem, response = await api.call("GET", f"/api/v1/requests?{query}")
        assert status == 400 and response.content_type == PROBLEM, query
    for query in ("since=0001-01-01T00:00:00%2B01:00", "until=9999-12-31T23:59:59-01:00"):
        status, _problem, response = await api.call("GET", f"/api/v1/audit.csv?{query}")
        assert status == 400 and response.content_type == PROBLEM, query


async def test_a_body_nested_too_deep_is_a_problem_not_a_500(api: Api) -> None:
    async with api.http.post(
        api.base + "/api/v1/requests",
        data=b"[" * 100_000,
        headers={**api.auth(), "Content-Type": "application/json"},
    ) as response:
        assert response.status == 400
        assert response.content_type == PROBLEM


async def test_the_shop_verifies_a_request_waiting_for_it(
    api: Api, mailbox: ConsoleMailbox
) -> None:
    from backend.privacy_requests import start_request
    from tests.backend.privacy_requests_support import ALICE

    async with api.database.session() as session:
        waiting = await start_request(
            session,
            SHOP,
            "deletion",
            ALICE,
            "anna@example.org",
            rules=RULES,
            verification="shop",
        )
    assert waiting.code_mail is None  # no code: the shop vouches for the customer
    path = f"/api/v1/requests/{waiting.request.id}/verify"
    status, body, _ = await api.call("POST", path, {})
    assert status == 200 and body["status"] == "verified" and body["deadline"]
    status, body, _ = await api.call("POST", path, {})
    assert status == 409
    chat = await verified(api.database, mailbox, kind="access")
    status, body, _ = await api.call("POST", f"/api/v1/requests/{chat.id}/verify", {})
    assert status == 409  # the customer proves this one by code


async def test_unsubscribed_addresses_are_found_by_the_suppression_check(api: Api) -> None:
    body = await _create(api, kind="unsubscribe", email="Anna@example.org")
    assert body["status"] == "completed"
    status, result, _ = await api.call(
        "POST",
        "/api/v1/suppressions/check",
        {"emails": ["anna@EXAMPLE.org", "bob@example.org"]},
    )
    assert status == 200 and result == {"suppressed": ["anna@EXAMPLE.org"]}
    status, result, _ = await api.call(
        "POST", "/api/v1/suppressions/check", {"emails": ["anna@example.org"]}, key=api.other_key
    )
    assert result == {"suppressed": []}


async def test_the_audit_trail_comes_as_csv_for_the_shop_only(api: Api) -> None:
    request = await _create(api)
    status, text, response = await api.call("GET", "/api/v1/audit.csv")
    assert status == 200 and response.content_type == "text/csv"
    lines = text.splitlines()
    assert lines[0].startswith("at,request_id,kind,actor,action")
    assert any(request["id"] in line and ",verified," in line for line in lines)
    assert "anna" not in text
    status, text, _ = await api.call("GET", "/api/v1/audit.csv", key=api.other_key)
    assert text.splitlines()[1:] == []


async def test_a_foreign_host_header_is_refused(api: Api) -> None:
    status, _body, _ = await api.call(
        "GET", "/api/v1/requests", headers={"Host": "attacker.example"}
    )
    assert status == 421


async def test_a_key_created_for_another_rules_key_still_cannot_open_emails(db: Database) -> None:
    async with running_api(db) as api:
        created = await _create(api)
    # The same rows read by an API keyed differently: the address does not open.
    from aiohttp import ClientSession
    from aiohttp.test_utils import TestServer

    from backend.api.app import create_api_app
    from backend.api.context import ApiContext

    other_rules = RequestRules(server_key=b"o" * 32)
    server = TestServer(create_api_app(ApiContext(db, other_rules)), host="127.0.0.1")
    await server.start_server()
    try:
        async with db.session() as session:
            from backend.api.keys import create_api_key

            _, key = await create_api_key(session, SHOP)
        async with (
            ClientSession() as http,
            http.get(
                f"http://127.0.0.1:{server.port}/api/v1/requests/{created['id']}",
                headers={"Authorization": f"Bearer {key}"},
            ) as response,
        ):
            body = await response.json()
        assert response.status == 200 and body["email"] is None
    finally:
        await server.close()


async def test_an_export_nested_too_deep_is_refused_and_a_failed_page_spends_no_link(
    api: Api,
) -> None:
    # Issue 12, defect 6.
    request = await _create(api, kind="access")
    rid = request["id"]
    await api.call("POST", f"/api/v1/requests/{rid}/start")
    path = f"/api/v1/requests/{rid}/export"
    for data in (b"[" * 600 + b"]" * 600, b"[" * 100_000, b'{"a": "\xff"}'):
        status, _, response = await api.call(
            "PUT", path, data=data, headers={"Content-Type": "application/json"}
        )
        assert status == 422 and response.content_type == PROBLEM, data[:20]
    assert await _count(api.database, AccessExport) == 0
    # An export that cannot be rendered (stored before the check existed): the page fails,
    # the link stays unspent, and the data is still there for a try after a fix.
    status, _, _ = await api.call(
        "PUT", path, data=b'{"ok": true}', headers={"Content-Type": "application/json"}
    )
    assert status == 201
    async with api.database.session() as session:
        stored = (await session.exec(select(AccessExport))).one()
        stored.data = b"[" * 5000 + b"]" * 5000
        session.add(stored)
        token = await issue_link(session, stored, policy=api_policy(), now=_now())
    async with api.http.post(f"{api.base}/exports/{token}") as response:
        assert response.status == 500
    async with api.database.session() as session:
        again = (await session.exec(select(AccessExport))).one()
        assert again.downloaded_at is None
        again.data = b'{"ok": true}'
        session.add(again)
    async with api.http.post(f"{api.base}/exports/{token}") as response:
        assert response.status == 200


async def test_texts_with_hidden_characters_are_refused(api: Api) -> None:
    # Issue 12, defect 8: control, bidirectional and zero-width characters are refused
    # wherever a shop's text is kept (the customer is shown these texts).
    request = await _create(api)
    path = f"/api/v1/requests/{request['id']}"
    assert (await api.call("POST", f"{path}/start"))[0] == 200
    for reason in ("Archive\u202eevihcra", "Archive\u200bsearch", "Bell\u0007"):
        status, body, _ = await api.call("POST", f"{path}/extend", {"months": 1, "reason": reason})
        assert status == 422 and "invisible character" in body["detail"], reason
    status, body, _ = await api.call(
        "POST", f"{path}/outcomes", {"outcomes": [{"system": "crm\u2066", "outcome": "erased"}]}
    )
    assert status == 422 and "U+2066" in body["detail"]
    status, body, _ = await api.call(
        "POST", f"{path}/extend", {"months": 1, "reason": "Two archives,\nboth offline."}
    )
    assert status == 200
    _, stored, _ = await api.call("GET", path)
    assert stored["extension_months"] == 1 and not stored["outcomes"]
