"""Every state-changing API step fired at once on one request, on PostgreSQL (issue 12,
defect 1): afterwards the request, its audit trail and the outbox agree, nothing accepted
was lost and nothing beyond what the law allows went through."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import col, select

from backend.database import Database
from backend.models import AuditEvent
from tests.backend.api_support import Api, running_api

pytestmark = pytest.mark.postgres


@pytest.fixture
async def api(pg: Database) -> AsyncIterator[Api]:
    async with running_api(pg) as running:
        yield running


async def _started_deletion(api: Api) -> str:
    status, body, _ = await api.call(
        "POST", "/api/v1/requests", {"kind": "deletion", "email": "anna@example.org"}
    )
    assert status == 201, body
    path = f"/api/v1/requests/{body['id']}"
    assert (await api.call("POST", f"{path}/start"))[0] == 200
    return path


async def _trail(api: Api, request_id: str) -> list[AuditEvent]:
    async with api.database.session() as session:
        return list(
            (
                await session.exec(
                    select(AuditEvent)
                    .where(col(AuditEvent.request_id) == request_id)
                    .order_by(col(AuditEvent.id))
                )
            ).all()
        )


async def _burst(api: Api, calls: list[tuple[str, str, Any]]) -> list[tuple[int, Any]]:
    answers = await asyncio.gather(*(api.call(method, path, body) for method, path, body in calls))
    return [(status, body) for status, body, _ in answers]


async def test_parallel_outcomes_are_all_kept_and_a_failure_blocks_completion(api: Api) -> None:
    path = await _started_deletion(api)
    systems = [f"system{i}" for i in range(9)]
    calls = [
        ("POST", f"{path}/outcomes", {"outcomes": [{"system": name, "outcome": "erased"}]})
        for name in systems
    ] + [("POST", f"{path}/outcomes", {"outcomes": [{"system": "crm", "outcome": "failed"}]})]
    answers = await _burst(api, calls)
    assert [status for status, _ in answers] == [200] * 10
    _, body, _ = await api.call("GET", path)
    kept = {entry["system"]: entry["outcome"] for entry in body["outcomes"]}
    assert kept == {**dict.fromkeys(systems, "erased"), "crm": "failed"}
    status, body, _ = await api.call("POST", f"{path}/complete", {})
    assert status == 409 and "failed" in body["detail"]
    trail = await _trail(api, body_id(path))
    assert Counter(e.action for e in trail)["outcomes_reported"] == 10
    # Reported again as erased, it completes.
    assert (
        await api.call(
            "POST", f"{path}/outcomes", {"outcomes": [{"system": "crm", "outcome": "erased"}]}
        )
    )[0] == 200
    assert (await api.call("POST", f"{path}/complete", {}))[0] == 200


def body_id(path: str) -> str:
    return path.rsplit("/", 1)[-1]


async def test_parallel_extensions_stop_at_two_months(api: Api) -> None:
    path = await _started_deletion(api)
    answers = await _burst(
        api,
        [("POST", f"{path}/extend", {"months": 1, "reason": "Many systems."})] * 20,
    )
    statuses = Counter(status for status, _ in answers)
    assert statuses == {200: 2, 409: 18}, statuses
    _, body, _ = await api.call("GET", path)
    assert body["extension_months"] == 2
    trail = await _trail(api, body_id(path))
    extended = [e.detail["extension_months"] for e in trail if e.action == "extended"]
    assert extended == [1, 2]


async def test_parallel_pauses_and_resumes_alternate(api: Api) -> None:
    path = await _started_deletion(api)
    calls = [("POST", f"{path}/pause", None)] * 11 + [("POST", f"{path}/resume", None)] * 9
    answers = await _burst(api, calls)
    accepted = [status for status, _ in answers if status == 200]
    assert all(status in (200, 409) for status, _ in answers), answers
    trail = await _trail(api, body_id(path))
    actions = [e.action for e in trail if e.action in ("paused", "resumed")]
    # Whatever the order, the trail alternates pause, resume, pause, … as the state did.
    assert actions == ["paused", "resumed"] * (len(actions) // 2) + ["paused"] * (len(actions) % 2)
    assert len(actions) == len(accepted)
    _, body, _ = await api.call("GET", path)
    assert body["paused"] is (len(actions) % 2 == 1)
