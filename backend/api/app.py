"""The REST API as an aiohttp application: the routes of the operation table behind three
middlewares (a Host check against DNS rebinding, problem documents for every error, and
the API key that scopes a call to one shop), and the operator's /healthz, /readyz and
/metrics beside them."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import secrets
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware as Middlewares

from backend.api.context import CONTEXT, SHOP_ID, ApiContext
from backend.api.keys import authenticate
from backend.api.openapi import openapi_document
from backend.api.operations import OPERATIONS, PREFIX, Handler
from backend.api.problems import ProblemError, problem_middleware
from backend.index_signal import SignalSettings
from backend.observability.health import (
    OPS_PATHS,
    ReadinessCheck,
    Refresh,
    add_ops_routes,
    index_check,
    service_checks,
)
from backend.observability.logs import request_context
from backend.observability.metrics import refresh_database_gauges, refresh_index_gauges
from indexer.errors import IndexNotFoundError

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
PUBLIC_ROUTES = frozenset(op.operation_id for op in OPERATIONS if not op.authenticated)
# JSON bodies are small; an export upload streams past this limit with its own.
JSON_BODY_MAX_BYTES = 1024 * 1024


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(ctx: ApiContext) -> frozenset[str] | None:
    """The Host names the API answers to, or None for any.

    Bound to loopback, only loopback names: a web page elsewhere that rebinds its own
    name to 127.0.0.1 cannot reach the API through a customer's or developer's browser.
    With a public URL or API_ALLOWED_HOSTS, those names (and loopback) only.
    """
    settings = ctx.settings
    named = set(settings.allowed_hosts)
    if settings.public_url:
        named.add(urlsplit(settings.public_url).hostname or "")
    if named:
        return frozenset(named | LOOPBACK_NAMES)
    if _is_loopback(settings.host):
        return LOOPBACK_NAMES
    return None


def _host_guard(allowed: frozenset[str] | None) -> Middlewares:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Health checks of load balancers and orchestrators often name the container's IP
        # as Host, which no allow-list knows. The ops routes tell a rebinding page nothing
        # worth the trouble (a status, counts, shop ids) and change nothing, so they answer
        # any Host; keep /metrics off the public internet at the proxy all the same.
        if allowed is not None and request.path not in OPS_PATHS:
            host = urlsplit(f"//{request.host}").hostname or ""
            if host not in allowed:
                raise ProblemError(
                    421, "Misdirected request", "this server does not serve that host"
                )
        return await handler(request)

    return guard


@web.middleware
async def _api_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    route_name = request.match_info.route.name
    if request.path.startswith(PREFIX + "/") and route_name not in PUBLIC_ROUTES:
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        key = None
        if scheme.lower() == "bearer" and presented:
            async with request.app[CONTEXT].database.session() as session:
                key = await authenticate(session, presented.strip())
        if key is None:
            raise ProblemError(
                401,
                "Unauthorized",
                "send a valid API key as `Authorization: Bearer <key>`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        request[SHOP_ID] = key.shop_id
    return await handler(request)


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def readiness_checks(ctx: ApiContext) -> dict[str, ReadinessCheck]:
    """The database always; Redis when REDIS_URL is set; the index when policies are
    published here."""
    redis_url = ctx.policies.redis_url if ctx.policies else SignalSettings().redis_url
    checks = service_checks(ctx.database, redis_url)
    if ctx.policies is not None:
        checks["index"] = index_check(ctx.policies.settings.index_dir)
    return checks


def _gauge_refresher(ctx: ApiContext) -> Refresh:
    async def refresh() -> None:
        await refresh_database_gauges(ctx.database)
        if ctx.policies is not None:
            # Nothing published yet: /readyz says so; the index gauges stay unset.
            with contextlib.suppress(IndexNotFoundError):
                await asyncio.to_thread(refresh_index_gauges, ctx.policies.settings.index_dir)

    return refresh


_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


@web.middleware
async def _request_id(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every log line of a call carries its id: the caller's X-Request-Id when it is a
    plain token, else a new one; the response names it, so a shop can quote it."""
    given = request.headers.get("X-Request-Id", "")
    request_id = given if _REQUEST_ID.fullmatch(given) else "req-" + secrets.token_hex(8)
    with request_context(request_id):
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers["X-Request-Id"] = request_id
            raise
        response.headers["X-Request-Id"] = request_id
        return response


def create_api_app(ctx: ApiContext) -> web.Application:
    app = web.Application(
        middlewares=[
            _request_id,
            problem_middleware,
            _host_guard(allowed_hosts(ctx)),
            _api_key,
        ],
        client_max_size=JSON_BODY_MAX_BYTES,
    )
    app[CONTEXT] = ctx
    # Outside PREFIX: the API key middleware lets them through.
    add_ops_routes(app, readiness_checks(ctx), refresh=_gauge_refresher(ctx))
    app.router.add_get("/openapi.json", _openapi, name="openapi")
    for operation in OPERATIONS:
        app.router.add_route(
            operation.method, operation.path, operation.handler, name=operation.operation_id
        )
    return app
