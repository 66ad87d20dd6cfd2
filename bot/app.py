"""`python -m bot`: the assistant, in the mode its settings ask for.

- BOT_TOKEN and WEBHOOK_URL: webhook mode (aiohttp server; every update must carry the
  secret token header);
- BOT_TOKEN only: long polling;
- no BOT_TOKEN: a local chat in this terminal, no network at all;
- no BOT_TOKEN and `--web`: the web chat (and the REST API) on API_HOST:API_PORT.

Whenever the API is served, the web chat is served beside it (bot.web): the same
dispatcher answers Telegram's updates and the web pages' messages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.utils.i18n import I18n
from aiogram.utils.token import extract_bot_id
from aiohttp import web

from backend.api.settings import ApiSettings
from backend.conversation_log import purge_expired
from backend.database import Database
from backend.observability.logs import configure_logging
from backend.policies import PolicyDesk
from backend.privacy_requests import (
    PrivacyRequestSettings,
    SmtpSettings,
    mail_sender_from_settings,
)
from backend.runtime import backend_running, stop_on_signals
from backend.settings import BackendSettings
from backend.settings_check import SettingsError, error_line
from bot.admin.announcements import PolicyAnnouncer
from bot.admin.settings import AdminSettings
from bot.answer_engine import AnswerEngine
from bot.dispatcher import build_dispatcher
from bot.handoff.tasks import run_handoff_tasks
from bot.i18n import create_i18n
from bot.index_follow import IndexFollower, index_switched
from bot.local_chat import TerminalSession, run_local_chat, terminal_lines
from bot.notices import NoticeRelay
from bot.outgoing import SendingLimits, pin_response_types
from bot.request_cards.worker import RequestCardWorker
from bot.services import Services
from bot.settings import BotSettings
from bot.shared_state import SharedState, shared_state
from bot.shop_directory import ShopDirectory
from bot.startup import AppConfig, load_config
from bot.update_claims import mark_answered_after_send
from bot.web.server import WebDoor
from bot.web.session import DoorSession, WebSession
from bot.web.transcript import MemoryTranscript, RedisTranscript, Transcript
from bot.webhook import serve_webhook
from indexer.build import build_index
from indexer.embedding import embedder_for
from indexer.errors import IndexNotFoundError, PolicyError
from indexer.intents import IntentRecogniser
from indexer.retriever import Retriever
from indexer.settings import PROJECT_ROOT, IndexerSettings

log = logging.getLogger("bot")
# The web-only mode has no bot token; the Bot still wants one of the right form.
WEB_ONLY_TOKEN = "1:web-chat-without-telegram"


def load_retriever(settings: IndexerSettings) -> Retriever:
    """The serving index; built first when there is none (the embedded default's first run)."""
    embedder = embedder_for(settings)
    try:
        return Retriever(settings.index_dir, embedder, approximate_above=settings.approximate_above)
    except IndexNotFoundError:
        log.info("no index yet: building it from %s", settings.knowledge_dir)
        build_index(settings, embedder)
        return Retriever(settings.index_dir, embedder, approximate_above=settings.approximate_above)


@contextlib.asynccontextmanager
async def running_services(
    bot_settings: BotSettings | None = None,
    indexer_settings: IndexerSettings | None = None,
    backend_settings: BackendSettings | None = None,
    request_settings: PrivacyRequestSettings | None = None,
    smtp_settings: SmtpSettings | None = None,
    api_settings: ApiSettings | None = None,
    *,
    serve_api: bool = False,
    add_routes: Callable[[web.Application], None] | None = None,
) -> AsyncIterator[Services]:
    """Everything the handlers need, plus the backend's long-running parts beside them:
    the webhook outbox worker and housekeeping always, the REST API when `serve_api`
    (the Telegram and web modes; the local terminal chat opens no port), with
    `add_routes` (the web chat's) on the same server."""
    bot_settings = bot_settings or BotSettings()
    indexer_settings = indexer_settings or IndexerSettings()
    backend_settings = backend_settings or BackendSettings()
    request_settings = request_settings or PrivacyRequestSettings()
    smtp_settings = smtp_settings or SmtpSettings()
    api_settings = api_settings or ApiSettings()
    # The shops first: a shop.toml that cannot be read stops the start before the database
    # or the model is touched.
    shops = ShopDirectory.from_knowledge(indexer_settings.knowledge_dir)
    database = Database(backend_settings.database_url)
    await database.migrate()
    retriever = await asyncio.to_thread(load_retriever, indexer_settings)
    recogniser = IntentRecogniser(retriever.embedder, trained_dir=retriever.trained_dir)
    engine = AnswerEngine(retriever, recogniser)
    await engine.start()
    # Admins' policy uploads (chat and API) are embedded with the serving model.
    desk = PolicyDesk(indexer_settings, embedder=retriever.embedder)
    services = Services(
        settings=bot_settings,
        engine=engine,
        database=database,
        shops=shops,
        pseudonym_key=backend_settings.pseudonym_key.get_secret_value(),
        # Keyed like rules_from_environment, but with the settings this process was given.
        request_rules=request_settings.rules(backend_settings.pseudonym_key.get_secret_value()),
        mail=mail_sender_from_settings(smtp_settings),
        retention_days=backend_settings.conversation_retention_days,
        export_policy=api_settings.export_policy(),
        policy_desk=desk,
    )
    background = [
        asyncio.create_task(_purge_periodically(services), name="purge"),
        asyncio.create_task(_follow_index(services, desk.redis_url), name="index-follow"),
    ]
    try:
        async with backend_running(
            database,
            services.request_rules,
            api_settings=api_settings,
            serve_api=serve_api,
            policies=desk,
            add_routes=add_routes,
        ) as runtime:
            services.api_port = runtime.port
            yield services
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await engine.close()
        await database.dispose()


async def _purge_periodically(services: Services) -> None:
    """Conversation records older than the retention period are deleted, hourly."""
    while True:
        try:
            async with services.database.session() as session:
                removed = await purge_expired(session, datetime.now(UTC), services.retention_days)
            if removed:
                log.info("purged %d expired conversation records", removed)
        except Exception:
            log.exception("purge failed; retrying at the next interval")
        await asyncio.sleep(services.settings.purge_interval_seconds)


async def _follow_index(services: Services, redis_url: str | None) -> None:
    """Answer from a newly published policy version without a restart, whichever process
    published it (see bot.index_follow)."""
    follower = IndexFollower(
        services.engine.refresh_index,
        poll_seconds=services.settings.index_check_seconds,
        database_url=services.database.url,
        redis_url=redis_url,
        on_switch=lambda: index_switched(services),
    )
    await follower.run()


def compiled_locales() -> Path:
    return PROJECT_ROOT / "var" / "locales"


def telegram_bot(settings: BotSettings, shared: SharedState | None = None) -> Bot:
    """The Bot, its sends paced within Telegram's limits (shared by the replicas when
    `shared` is in Redis)."""
    assert settings.bot_token is not None
    pin_response_types()
    token = settings.bot_token.get_secret_value()
    room = shared.sending_room(extract_bot_id(token)) if shared is not None else None
    session = (
        AiohttpSession(api=TelegramAPIServer.from_base(settings.bot_api_url))
        if settings.bot_api_url
        else AiohttpSession()
    )
    session.middleware(SendingLimits(room, enabled=settings.sending_limits))
    # A re-delivered update is not answered again once its first reply went out.
    session.middleware(mark_answered_after_send())
    return Bot(
        token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


async def serve(
    services: Services,
    dispatcher: Dispatcher,
    i18n: I18n,
    api_settings: ApiSettings | None = None,
    *,
    shared: SharedState | None = None,
    stop: asyncio.Event | None = None,
    door: WebDoor | None = None,
) -> None:
    """Serve until `stop` is set (SIGTERM), then shut down gracefully: updates being
    handled are finished, then the background senders, then (by the caller's
    `running_services`) the outbox worker's deliveries in flight.

    With `door` (the web chat's routes, installed on the API's server) the Bot is one
    whose sends reach web chats through the door and Telegram chats through Telegram."""
    settings = services.settings
    api_settings = api_settings or ApiSettings()
    if settings.bot_token is None and door is None:
        # A terminal chat reads better without a log line after every message.
        logging.getLogger("aiogram").setLevel(logging.WARNING)
        await run_local_chat(
            dispatcher,
            services,
            i18n,
            export_policy=api_settings.export_policy(),
            read_line=terminal_lines(),
            start_payload=settings.default_shop or "",
            session=TerminalSession(downloads=PROJECT_ROOT / "var" / "local-chat"),
        )
        return
    stop = stop or asyncio.Event()
    telegram = telegram_bot(settings, shared) if settings.bot_token is not None else None
    transcript: Transcript | None = None
    bot: Bot
    if door is not None:
        transcript = web_transcript(shared, services.retention_days)
        await transcript.start()
        bot = door_bot(transcript, telegram)
        door.attach(dispatcher, bot, i18n, services, transcript, shared.redis if shared else None)
    else:
        assert telegram is not None
        bot = telegram
    relay = NoticeRelay(
        bot,
        services,
        i18n,
        export_policy=api_settings.export_policy(),
        public_url=api_settings.base_url(),
    )
    senders_stop = asyncio.Event()
    notices = asyncio.create_task(relay.run_forever(senders_stop), name="notices")
    # Cards of privacy requests in the shops' support groups, and their daily digest.
    cards = asyncio.create_task(
        RequestCardWorker(bot, services).run_forever(senders_stop), name="request-cards"
    )
    # Customers who sent /notify hear of their shop's policy changes.
    admin_settings = AdminSettings()
    announcer = PolicyAnnouncer(
        bot,
        services,
        i18n,
        per_second=admin_settings.announcements_per_second,
        check_seconds=admin_settings.announcement_check_seconds,
    )
    announcements = asyncio.create_task(announcer.run_forever(senders_stop), name="announcements")
    # Hand-off: the paced sender into the support groups, and the closer of idle
    # conversations with a person.
    handoffs = asyncio.create_task(
        run_handoff_tasks(bot, services, i18n, senders_stop), name="handoff"
    )
    try:
        if telegram is None:
            _print_chat_pages(services, api_settings)
            await stop.wait()
        elif settings.webhook_url:
            await serve_webhook(services, dispatcher, bot, shared, stop)
        else:
            await _serve_polling(dispatcher, bot, stop)
    finally:
        senders_stop.set()
        await asyncio.gather(notices, cards, announcements, handoffs, return_exceptions=True)
        await bot.session.close()
        if transcript is not None:
            await transcript.close()


def door_bot(transcript: Transcript, telegram: Bot | None) -> Bot:
    """The Bot of a process with the web door: Telegram's session (its pacing and claims)
    inside, for every chat that is not a web chat."""
    session = DoorSession(WebSession(transcript), telegram.session if telegram else None)
    return Bot(
        telegram.token if telegram else WEB_ONLY_TOKEN,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


def web_transcript(shared: SharedState | None, retention_days: int) -> Transcript:
    """Web conversations in Redis when replicas share it, else in this process."""
    seconds = retention_days * 86400
    if shared is not None and shared.redis is not None:
        return RedisTranscript(shared.redis, seconds)
    return MemoryTranscript(seconds)


def _print_chat_pages(services: Services, api_settings: ApiSettings) -> None:
    """Where to open the web chat (browsers keep the visitor cookie on `localhost` over
    plain HTTP; elsewhere the page must be served over HTTPS)."""
    host = api_settings.host
    if host in ("127.0.0.1", "::1", "0.0.0.0", "::"):
        host = "localhost"
    base = api_settings.public_url or f"http://{host}:{services.api_port}"
    shop = services.shops.resolve(services.settings.default_shop) or services.shops.only_shop()
    shops = [shop.id] if shop else [shop_id for shop_id, _name in services.shops.choices()]
    print("Web chat of the privacy help assistant; Ctrl-C stops it.", flush=True)
    for shop_id in shops:
        print(f"  {base.rstrip('/')}/chat/{shop_id}", flush=True)


async def _serve_polling(dispatcher: Dispatcher, bot: Bot, stop: asyncio.Event) -> None:
    await bot.delete_webhook(drop_pending_updates=False)
    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not polling.done():
        await dispatcher.stop_polling()
    stopping.cancel()
    await polling


async def run(config: AppConfig) -> None:
    # Telegram and web modes stop on SIGTERM/SIGINT gracefully; the local chat on Ctrl-C.
    serving = config.telegram or config.web_chat
    stop = stop_on_signals() if serving else None
    door = WebDoor() if serving else None
    async with running_services(
        config.bot,
        config.indexer,
        config.backend,
        config.requests,
        config.smtp,
        config.api,
        serve_api=serving,
        add_routes=door.install if door is not None else None,
    ) as services:
        i18n = create_i18n(compiled_locales())
        shared = shared_state(config.bot, config.signals.redis_url)
        try:
            dispatcher = build_dispatcher(
                services, i18n, shared.storage, shared.windows, shared.isolation
            )
            await serve(services, dispatcher, i18n, config.api, shared=shared, stop=stop, door=door)
        finally:
            await shared.close()


def main(argv: list[str] | None = None) -> int:
    """Settings first: a bad one stops here, with one line, before anything is opened."""
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="The privacy help assistant."
    )
    parser.add_argument(
        "--web",
        action="store_true",
        help="without BOT_TOKEN: serve the web chat on API_HOST:API_PORT, not a terminal chat",
    )
    arguments = parser.parse_args(argv)
    try:
        config = load_config(web_chat=arguments.web)
    except SettingsError as exc:
        print(error_line(exc), file=sys.stderr)
        return 2
    configure_logging(config.logs.level, config.logs.format)
    for line in config.advice():
        log.warning("%s", line)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(config))
    except (OSError, PolicyError) as exc:
        # A port taken, a folder not writable, a shop.toml that is not TOML (the file, the
        # line and the problem): said in one line.
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
