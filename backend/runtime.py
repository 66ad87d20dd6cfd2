"""The backend's long-running parts in one process: the REST API, the webhook outbox
worker and the housekeeping jobs. `python -m backend serve` runs them alone; the bot runs
them beside Telegram in its own process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web

from backend.api.app import create_api_app
from backend.api.context import ApiContext
from backend.api.settings import ApiSettings
from backend.database import Database
from backend.jobs import Housekeeper
from backend.policies import PolicyDesk
from backend.privacy_requests.settings import RequestRules
from backend.webhooks.settings import WebhookSettings
from backend.webhooks.worker import AlertHook, OutboxWorker

log = logging.getLogger(__name__)


@dataclass
class BackendRuntime:
    context: ApiContext
    # The port the API listens on (the one the OS chose when API_PORT is 0), or None.
    port: int | None = None
    # The API application (for `mark_shutting_down`), or None when no API is served.
    app: web.Application | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def backend_running(
    database: Database,
    rules: RequestRules,
    *,
    api_settings: ApiSettings | None = None,
    webhook_settings: WebhookSettings | None = None,
    serve_api: bool = True,
    deliver_webhooks: bool = True,
    housekeeping: bool = True,
    on_dead: AlertHook | None = None,
    policies: PolicyDesk | None = None,
    add_routes: Callable[[web.Application], None] | None = None,
) -> AsyncIterator[BackendRuntime]:
    """Run the parts asked for until the block ends; the API is listening on entry.

    On leaving, the worker finishes the batch in flight (its loop checks `stop` only
    between batches, and each delivery's result is recorded before `run_once` returns),
    the housekeeper its round, and only then does the API stop listening.
    """
    api_settings = api_settings or ApiSettings()
    webhook_settings = webhook_settings or WebhookSettings()
    ctx = ApiContext(database, rules, api_settings, webhook_settings, policies=policies)
    runtime = BackendRuntime(ctx)
    stop = asyncio.Event()
    runner: web.AppRunner | None = None
    if serve_api:
        runtime.app = create_api_app(ctx)
        if add_routes is not None:
            # Other doors served on the same host and port (the bot's web chat).
            add_routes(runtime.app)
        runner = web.AppRunner(runtime.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, api_settings.host, api_settings.port)
        await site.start()
        server = site._server  # the bound socket: the only way to learn an OS-chosen port
        sockets = getattr(server, "sockets", None) or []
        runtime.port = sockets[0].getsockname()[1] if sockets else api_settings.port
        log.info("REST API on http://%s:%s", api_settings.host, runtime.port)
    if deliver_webhooks:
        worker = OutboxWorker(database, settings=webhook_settings, on_dead=on_dead)
        runtime.tasks.append(asyncio.create_task(worker.run_forever(stop), name="outbox"))
    if housekeeping:
        keeper = Housekeeper(database, rules, api_settings.export_policy())
        runtime.tasks.append(asyncio.create_task(keeper.run_forever(stop), name="housekeeping"))
    try:
        yield runtime
    finally:
        stop.set()
        await asyncio.gather(*runtime.tasks, return_exceptions=True)
        if runner is not None:
            await runner.cleanup()


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT: the process stops gracefully on either."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    return stop
