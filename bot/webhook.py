"""Webhook mode: the aiohttp application Telegram (or a load balancer in front of several
replicas) posts updates to.

An update is handled before the webhook answers (not in the background), so that a
replica that dies mid-way leaves the delivery unanswered and Telegram delivers it again;
`bot.update_claims` keeps the retry from being answered twice. Beside the webhook path
the same server answers `/healthz`, `/readyz` and `/metrics`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types.update import UpdateTypeLookupError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from pydantic import ValidationError

from backend.observability.health import ReadinessCheck, add_ops_routes, mark_shutting_down
from backend.observability.logs import request_context
from bot.health import metrics_refresher, readiness_checks
from bot.middlewares.observing import typed_texts
from bot.services import Services
from bot.settings import BotSettings
from bot.shared_state import SharedState
from bot.update_claims import MemoryUpdateClaims, UpdateClaims, handling

log = logging.getLogger("bot.webhook")
RETRY_AFTER_SECONDS = 5


class ClaimingRequestHandler(SimpleRequestHandler):
    """Feeds each update to the dispatcher once across replicas (see bot.update_claims)."""

    def __init__(
        self, dispatcher: Dispatcher, bot: Bot, claims: UpdateClaims, secret_token: str
    ) -> None:
        super().__init__(
            dispatcher=dispatcher, bot=bot, handle_in_background=False, secret_token=secret_token
        )
        self.claims = claims

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        try:
            update = json.loads(await request.text())
            update_id = update["update_id"]
            # Infinity, 1e400 and 2002.7 parse as floats; Telegram's ids are whole numbers.
            if not isinstance(update_id, int) or isinstance(update_id, bool):
                raise TypeError("update_id")
        except (ValueError, KeyError, TypeError, RecursionError):
            return web.json_response({"ok": False, "description": "not an update"}, status=400)
        with request_context(f"update-{update_id}", *typed_texts(update)):
            claim = await self.claims.claim(update_id)
            if claim == "done":
                log.info("update %d was handled already; not again", update_id)
                return web.json_response({})
            if claim == "busy":
                # Another replica is on it: ask for the delivery again later.
                return web.json_response(
                    {"ok": False, "description": "being handled"},
                    status=503,
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                )
            try:
                with handling(self.claims, update_id):
                    result: Any = await self.dispatcher.feed_webhook_update(
                        bot, update, **self.data
                    )
            except (ValidationError, UpdateTypeLookupError):
                # A poison update ("message": [1, 2]), or one of a kind this aiogram does not
                # know: answered 200 so that Telegram stops sending it again, and logged
                # (without its content).
                log.warning("update %d is not one aiogram can read; dropped", update_id)
                await self.claims.finish(update_id)
                return web.json_response({})
            except BaseException:
                await self.claims.release(update_id)
                raise
            await self.claims.finish(update_id)
            return web.Response(body=self._build_response_writer(bot=bot, result=result))


def webhook_application(
    dispatcher: Dispatcher,
    bot: Bot,
    settings: BotSettings,
    claims: UpdateClaims | None = None,
    checks: dict[str, ReadinessCheck] | None = None,
    refresh_metrics: Callable[[], Awaitable[None]] | None = None,
) -> web.Application:
    """The webhook path, and /healthz, /readyz (`checks`) and /metrics beside it."""
    app = web.Application()
    ClaimingRequestHandler(
        dispatcher, bot, claims or MemoryUpdateClaims(), settings.secret_token()
    ).register(app, path=settings.webhook_path)
    add_ops_routes(app, checks or {}, refresh=refresh_metrics)
    setup_application(app, dispatcher, bot=bot)

    async def on_startup(bot: Bot) -> None:
        assert settings.webhook_url is not None
        await bot.set_webhook(
            settings.webhook_url,
            secret_token=settings.secret_token(),
            allowed_updates=dispatcher.resolve_used_update_types(),
            drop_pending_updates=False,
        )

    dispatcher.startup.register(on_startup)
    return app


async def serve_webhook(
    services: Services,
    dispatcher: Dispatcher,
    bot: Bot,
    shared: SharedState | None,
    stop: asyncio.Event,
) -> None:
    """Serve the webhook (and the ops routes) until `stop`, then stop gracefully: out of
    the balancer's rotation first, then the updates in hand finished."""
    settings = services.settings
    claims = shared.claims(bot.id) if shared is not None else None
    app = webhook_application(
        dispatcher,
        bot,
        settings,
        claims,
        checks=readiness_checks(services, shared.redis_url if shared is not None else None),
        refresh_metrics=metrics_refresher(services),
    )
    # In-flight requests get this long to finish once the server stops listening.
    runner = web.AppRunner(app, shutdown_timeout=settings.shutdown_seconds)
    await runner.setup()
    site = web.TCPSite(runner, settings.web_host, settings.web_port)
    await site.start()
    log.info("webhook mode on %s:%d", settings.web_host, settings.web_port)
    try:
        await stop.wait()
        log.info("stopping: finishing the updates in hand")
        # /readyz says 503 at once, so that a balancer stops sending; updates still
        # arriving meanwhile are handled. Then the server closes and waits for the rest.
        mark_shutting_down(app)
        await asyncio.sleep(settings.drain_seconds)
    finally:
        await runner.cleanup()
