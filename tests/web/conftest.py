"""The assistant serving the web chat: the real app (`bot.app.serve`) on a free loopback
port, beside the fake Telegram Bot API (or with no Telegram at all), on SQLite or on the
databases a test names."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.api.settings import ApiSettings
from backend.privacy_requests import PrivacyRequestSettings, SmtpSettings
from backend.settings import BackendSettings
from bot.app import running_services, serve
from bot.dispatcher import build_dispatcher
from bot.handoff.desk import HandoffDesk
from bot.handoff.settings import HandoffSettings
from bot.i18n import create_i18n
from bot.services import Services
from bot.settings import BotSettings
from bot.shared_state import shared_state
from bot.web.server import WebDoor
from bot.web.settings import WebChatSettings
from indexer.settings import IndexerSettings
from tests.bot.conftest import (  # noqa: F401  (mailbox: a fixture for the web tests too)
    PSEUDONYM_KEY,
    mailbox,
)
from tests.conftest import KNOWLEDGE
from tests.support.fake_bot_api import FakeBotAPI
from tests.support.mail_server import free_port


@dataclass
class WebChat:
    base_url: str
    door: WebDoor
    services: Services
    fake: FakeBotAPI | None


@contextlib.asynccontextmanager
async def web_chat_running(
    tmp_path: Path,
    corpus_index: Path,
    *,
    telegram: bool = False,
    knowledge: Path = KNOWLEDGE,
    smtp: SmtpSettings | None = None,
    requests: PrivacyRequestSettings | None = None,
    database_url: str | None = None,
    redis_url: str | None = None,
    web: WebChatSettings | None = None,
    handoff: HandoffSettings | None = None,
    **bot_settings: Any,
) -> AsyncIterator[WebChat]:
    """`python -m bot --web` (or, with `telegram`, `python -m bot` polling the fake Bot
    API), served until the block ends."""
    port = free_port()
    async with contextlib.AsyncExitStack() as stack:
        fake = await stack.enter_async_context(FakeBotAPI()) if telegram else None
        settings = BotSettings(
            bot_token="42:TEST" if telegram else None,
            bot_api_url=fake.base_url if fake else None,
            sending_limits=False,
            **bot_settings,
        )
        backend = BackendSettings(
            database_url=database_url or f"sqlite+aiosqlite:///{tmp_path / 'web.sqlite3'}",
            pseudonym_key=PSEUDONYM_KEY.encode(),
        )
        indexer = IndexerSettings(knowledge_dir=knowledge, index_dir=corpus_index)
        api = ApiSettings(port=port)
        door = WebDoor(web)
        services = await stack.enter_async_context(
            running_services(
                settings,
                indexer,
                backend,
                requests,
                smtp,
                api,
                serve_api=True,
                add_routes=door.install,
            )
        )
        if handoff is not None:
            services.handoff = HandoffDesk(handoff)
        i18n = create_i18n(tmp_path / "locales")
        shared = shared_state(settings, redis_url)
        stack.push_async_callback(shared.close)
        dispatcher = build_dispatcher(
            services, i18n, shared.storage, shared.windows, shared.isolation
        )
        stop = asyncio.Event()
        serving = asyncio.create_task(
            serve(services, dispatcher, i18n, api, shared=shared, stop=stop, door=door)
        )
        try:
            async with asyncio.timeout(20):
                while door.dispatcher is None:
                    assert not serving.done(), serving
                    await asyncio.sleep(0.02)
            yield WebChat(f"http://localhost:{port}", door, services, fake)
        finally:
            stop.set()
            await serving
