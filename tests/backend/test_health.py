"""/healthz, /readyz and /metrics of the backend's API process, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from backend.api.settings import ApiSettings
from backend.database import Database
from backend.observability.health import (
    ReadinessCheck,
    add_ops_routes,
    mark_shutting_down,
    redis_check,
)
from backend.policies import PolicyDesk
from backend.runtime import BackendRuntime, backend_running
from indexer.publish import Manifest, publish, staging_folder
from indexer.settings import IndexerSettings
from tests.backend.privacy_requests_support import RULES

LOOPBACK_API = ApiSettings(host="127.0.0.1", port=0)


def publish_index(index_dir: Path, version: int = 7, shops: dict[str, int] | None = None) -> None:
    """A published index version whose manifest says `shops` (no vectors: for the ops
    routes, which read only the manifest)."""
    shops = shops or {"webstore": 5}
    manifest = Manifest(
        version=version,
        created_at="2026-01-31T09:30:00+00:00",
        model_id="test",
        dimension=4,
        corpus_hash="x",
        documents={},
        passage_count=sum(shops.values()),
        sentence_count=2 * sum(shops.values()),
        shops=shops,
    )
    with staging_folder(index_dir) as staging:
        publish(index_dir, staging, manifest)


def desk_for(index_dir: Path, redis_url: str | None = None) -> PolicyDesk:
    settings = IndexerSettings(knowledge_dir=index_dir.parent / "knowledge", index_dir=index_dir)
    return PolicyDesk(settings, redis_url=redis_url)


@asynccontextmanager
async def backend(
    db: Database, desk: PolicyDesk | None
) -> AsyncIterator[tuple[BackendRuntime, str]]:
    async with backend_running(
        db,
        RULES,
        api_settings=LOOPBACK_API,
        deliver_webhooks=False,
        housekeeping=False,
        policies=desk,
    ) as runtime:
        yield runtime, f"http://127.0.0.1:{runtime.port}"


async def get(base: str, path: str, **options: Any) -> tuple[int, Any, str]:
    async with ClientSession() as http, http.get(base + path, **options) as response:
        text = await response.text()
        body = await response.json(content_type=None) if "json" in response.content_type else text
        return response.status, body, response.headers.get("Content-Type", "")


async def test_ops_routes_of_a_ready_backend(db: Database, tmp_path: Path) -> None:
    publish_index(tmp_path / "index")
    async with backend(db, desk_for(tmp_path / "index")) as (runtime, base):
        assert await get(base, "/healthz") == (
            200,
            {"status": "ok"},
            "application/json; charset=utf-8",
        )
        status, body, _ = await get(base, "/readyz")
        assert (status, body) == (
            200,
            {"status": "ready", "checks": {"database": "ok", "index": "ok"}},
        )

        status, text, content_type = await get(base, "/metrics")
        assert status == 200
        assert content_type.startswith("text/plain; version=")
        assert "privacy_assistant_outbox_backlog 0.0" in text
        assert "privacy_assistant_index_version 7.0" in text
        assert 'privacy_assistant_index_passages{shop="webstore"} 5.0' in text
        assert "privacy_assistant_webhook_deliveries_total" in text

        # Graceful shutdown: not ready any more, still alive.
        assert runtime.app is not None
        mark_shutting_down(runtime.app)
        status, body, _ = await get(base, "/readyz")
        assert (status, body["status"]) == (503, "shutting down")
        assert (await get(base, "/healthz"))[0] == 200


async def test_an_unpublished_index_makes_it_not_ready(db: Database, tmp_path: Path) -> None:
    async with backend(db, desk_for(tmp_path / "empty-index")) as (_, base):
        status, body, _ = await get(base, "/readyz")
        assert status == 503
        assert body["status"] == "not ready"
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["index"].startswith("IndexNotFoundError: no index published")
        # Metrics still answer; the index gauges stay unset.
        status, text, _ = await get(base, "/metrics")
        assert status == 200
        assert "privacy_assistant_privacy_requests_overdue" in text


async def test_ops_routes_need_no_key_and_answer_any_host(db: Database) -> None:
    async with backend(db, None) as (_, base):
        foreign_host = {"Host": "10.1.2.3:8080"}  # what a load balancer's probe may send
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await get(base, path, headers=foreign_host))[0] == 200, path
        # The API itself still refuses an unknown Host, and calls without a key.
        assert (await get(base, "/api/v1/requests", headers=foreign_host))[0] == 421
        assert (await get(base, "/api/v1/requests"))[0] == 401


async def test_each_api_call_has_a_request_id_for_its_log_lines(db: Database) -> None:
    async with backend(db, None) as (_, base), ClientSession() as http:
        async with http.get(base + "/api/v1/requests", headers={"X-Request-Id": "erp-42"}) as r:
            assert r.status == 401 and r.headers["X-Request-Id"] == "erp-42"
        forged = {"X-Request-Id": "not a plain token; <script>"}
        async with http.get(base + "/healthz", headers=forged) as r:
            made = r.headers["X-Request-Id"]
        assert made.startswith("req-") and len(made) == 20
        async with http.get(base + "/healthz") as r:
            assert r.headers["X-Request-Id"] not in ("", made)


@asynccontextmanager
async def ops_app(checks: dict[str, ReadinessCheck], refresh: Any = None) -> AsyncIterator[str]:
    app = web.Application()
    add_ops_routes(app, checks, refresh=refresh)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def test_a_failing_check_is_named_without_its_secrets() -> None:
    async def fine() -> None:
        pass

    async def broken() -> None:
        raise ConnectionError("cannot reach postgresql://app:Pa55word@db:5432/app\nmore detail")

    async def failing_refresh() -> None:
        raise RuntimeError("gauges unavailable")

    async with ops_app({"fine": fine, "queue": broken}, failing_refresh) as base:
        status, body, _ = await get(base, "/readyz")
        assert status == 503
        assert body == {
            "status": "not ready",
            "checks": {
                "fine": "ok",
                "queue": "ConnectionError: cannot reach postgresql://app:[token]@db:5432/app",
            },
        }
        status, text, _ = await get(base, "/metrics")
        assert status == 200
        assert "privacy_assistant_" in text


@pytest.mark.redis
async def test_redis_check(redis_url: str) -> None:
    checks = {"redis": redis_check(redis_url), "gone": redis_check("redis://127.0.0.1:1/0")}
    async with ops_app(checks) as base:
        status, body, _ = await get(base, "/readyz")
    assert status == 503
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["gone"].startswith("ConnectionError")
