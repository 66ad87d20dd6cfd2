"""Liveness, readiness and metrics routes for orchestrators and Prometheus.

- GET /healthz: 200 while the process serves HTTP at all;
- GET /readyz: 200 when every readiness check passes, else 503 naming the failing ones
  (also 503 once `mark_shutting_down` was called, so that traffic drains before the stop);
- GET /metrics: the Prometheus text format, gauges refreshed first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from aiohttp import web
from sqlalchemy import text

from backend.database import Database
from backend.observability.logs import redact
from backend.observability.metrics import render
from indexer.publish import Manifest, current_version_dir

ReadinessCheck = Callable[[], Awaitable[None]]
Refresh = Callable[[], Awaitable[None]]

OPS_PATHS: Final = frozenset({"/healthz", "/readyz", "/metrics"})
CHECK_TIMEOUT_SECONDS: Final = 2.0
REASON_MAX_CHARS: Final = 120


@dataclass
class OpsState:
    """What the routes need; one mutable object, since an application's items are frozen
    once it runs."""

    checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    refresh: Refresh | None = None
    shutting_down: bool = False


OPS_STATE = web.AppKey("ops_state", OpsState)

log = logging.getLogger(__name__)


def database_check(database: Database) -> ReadinessCheck:
    async def check() -> None:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    return check


def redis_check(url: str) -> ReadinessCheck:
    async def check() -> None:
        import redis.asyncio as redis  # an optional extra: only when Redis is configured

        client = redis.from_url(url, socket_timeout=CHECK_TIMEOUT_SECONDS)
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await client.ping()
        finally:
            await client.aclose()

    return check


def service_checks(database: Database, redis_url: str | None) -> dict[str, ReadinessCheck]:
    """What every process of the app needs: the database, and Redis when it is configured."""
    checks = {"database": database_check(database)}
    if redis_url:
        checks["redis"] = redis_check(redis_url)
    return checks


def index_check(index_dir: Path) -> ReadinessCheck:
    async def check() -> None:
        await asyncio.to_thread(lambda: Manifest.read(current_version_dir(index_dir)))

    return check


def _reason(exc: BaseException) -> str:
    """The exception's type and a short message, without secrets (a URL's password...)."""
    if isinstance(exc, TimeoutError):
        return f"TimeoutError: no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    message = redact(str(exc).splitlines()[0] if str(exc) else "")
    if len(message) > REASON_MAX_CHARS:
        message = message[: REASON_MAX_CHARS - 1] + "…"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


async def _run_check(name: str, check: ReadinessCheck) -> str:
    try:
        await check()
    except Exception as exc:
        log.warning("readiness check %s failed: %s", name, type(exc).__name__)
        return _reason(exc)
    return "ok"


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    if request.app[OPS_STATE].shutting_down:
        return web.json_response({"status": "shutting down", "checks": {}}, status=503)
    checks = request.app[OPS_STATE].checks
    results = await asyncio.gather(*(_run_check(name, check) for name, check in checks.items()))
    outcome = dict(zip(checks, results, strict=True))
    ready = all(result == "ok" for result in results)
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": outcome},
        status=200 if ready else 503,
    )


async def _metrics(request: web.Request) -> web.Response:
    refresh = request.app[OPS_STATE].refresh
    if refresh is not None:
        try:
            await refresh()
        except Exception:
            # Stale gauges beat no metrics: the counters are still worth scraping.
            log.exception("refreshing the metrics' gauges failed")
    body, content_type = render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


def add_ops_routes(
    app: web.Application,
    checks: dict[str, ReadinessCheck],
    *,
    refresh: Refresh | None = None,
) -> None:
    """Add /healthz, /readyz and /metrics to `app` (before it starts)."""
    app[OPS_STATE] = OpsState(dict(checks), refresh)
    app.router.add_get("/healthz", _healthz, name="healthz")
    app.router.add_get("/readyz", _readyz, name="readyz")
    app.router.add_get("/metrics", _metrics, name="metrics")


def mark_shutting_down(app: web.Application) -> None:
    """From now on /readyz answers 503: load balancers stop sending new traffic."""
    state = app.get(OPS_STATE)
    if state is not None:
        state.shutting_down = True
