"""A running assistant for end-to-end tests: the real dispatcher, the real index of the five
demo policies, a SQLite database, and a fake Telegram Bot API server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiohttp import web
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import SQLModel, col, select, update

from backend.database import Database
from backend.models import PrivacyRequest, utc_now
from backend.privacy_requests import PrivacyRequestSettings, SmtpSettings
from backend.settings import BackendSettings
from bot.app import running_services
from bot.dispatcher import build_dispatcher
from bot.health import metrics_refresher, readiness_checks
from bot.i18n import create_i18n
from bot.outgoing import SendingLimits
from bot.services import Services
from bot.settings import BotSettings
from bot.update_claims import UpdateClaims
from bot.webhook import webhook_application
from indexer.errors import IndexNotFoundError
from indexer.publish import CURRENT, current_version_dir
from indexer.settings import PROJECT_ROOT, IndexerSettings
from tests.conftest import KNOWLEDGE
from tests.support.fake_bot_api import ApiCall, FakeBotAPI
from tests.support.mail_server import Mailbox, free_port, mail_server

PSEUDONYM_KEY = "k" * 40


@dataclass
class Assistant:
    fake: FakeBotAPI
    bot: Bot
    dispatcher: Dispatcher
    services: Services
    polling: asyncio.Task[None] | None = None

    async def say(
        self, text: str, *, user_id: int = 1001, language_code: str = "en", **kwargs: Any
    ) -> ApiCall:
        """Send a message as a customer and wait for the bot's next message to that chat."""
        chat_id = kwargs.get("chat_id") or user_id
        before = len(self.sent_to(chat_id))
        self.fake.push_update(
            self.fake.message_update(text, user_id=user_id, language_code=language_code, **kwargs)
        )
        calls = await self.fake.wait_for(
            "sendMessage", count=before + 1, predicate=lambda c: c.params["chat_id"] == chat_id
        )
        return calls[before]

    def sent_to(self, chat_id: int) -> list[ApiCall]:
        return [c for c in self.fake.calls_to("sendMessage") if c.params["chat_id"] == chat_id]

    async def press(
        self, call: ApiCall, label: str, *, user_id: int = 1001, language_code: str = "en"
    ) -> None:
        """Press the button whose text contains `label` under the message `call` sent."""
        markup = call.params["reply_markup"]
        data = next(
            button["callback_data"]
            for row in markup["inline_keyboard"]
            for button in row
            if label in button["text"]
        )
        self.fake.push_update(
            self.fake.callback_update(
                data,
                user_id=user_id,
                language_code=language_code,
                message_id=call.result["message_id"],
                message_text=call.params["text"],
            )
        )


@contextlib.asynccontextmanager
async def assistant_running(
    tmp_path: Path,
    corpus_index: Path,
    *,
    knowledge: Path = KNOWLEDGE,
    polling: bool = True,
    limits: bool = False,
    smtp: SmtpSettings | None = None,
    requests: PrivacyRequestSettings | None = None,
    database_url: str | None = None,
    **bot_settings: Any,
) -> AsyncIterator[Assistant]:
    """The assistant on a SQLite file in `tmp_path`, or on the database at `database_url`
    (a migrated PostgreSQL database whose tables the caller emptied)."""
    settings = BotSettings(bot_token="42:TEST", **bot_settings)
    backend = BackendSettings(
        database_url=database_url or f"sqlite+aiosqlite:///{tmp_path / 'assistant.sqlite3'}",
        pseudonym_key=PSEUDONYM_KEY.encode(),
    )
    indexer = IndexerSettings(knowledge_dir=knowledge, index_dir=corpus_index)
    async with (
        FakeBotAPI() as fake,
        running_services(settings, indexer, backend, requests, smtp) as services,
    ):
        dispatcher = build_dispatcher(services, create_i18n(tmp_path / "locales"))
        bot = fake.make_bot()
        bot.session.middleware(SendingLimits(enabled=limits))
        assistant = Assistant(fake, bot, dispatcher, services)
        if polling:
            assistant.polling = asyncio.create_task(
                dispatcher.start_polling(bot, polling_timeout=1, handle_signals=False)
            )
        try:
            yield assistant
        finally:
            if assistant.polling is not None:
                with contextlib.suppress(RuntimeError):
                    await dispatcher.stop_polling()
                await assistant.polling
            await bot.session.close()


@contextlib.asynccontextmanager
async def webhook_assistant(
    tmp_path: Path, corpus_index: Path, claims: UpdateClaims | None = None
) -> AsyncIterator[tuple[Assistant, str]]:
    """The assistant in webhook mode on a free loopback port, and its webhook URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    async with assistant_running(
        tmp_path, corpus_index, polling=False, webhook_url=url, web_port=port
    ) as assistant:
        settings = assistant.services.settings
        services = assistant.services
        app = webhook_application(
            assistant.dispatcher,
            assistant.bot,
            settings,
            claims,
            checks=readiness_checks(services, redis_url=None),
            refresh_metrics=metrics_refresher(services),
        )
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield assistant, url
        finally:
            await runner.cleanup()


@pytest.fixture
async def assistant(tmp_path: Path, corpus_index: Path) -> AsyncIterator[Assistant]:
    async with assistant_running(tmp_path, corpus_index) as running:
        yield running


@pytest.fixture
def served_index(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """For the benches' smoke tests: a copy of the repository's published index (quick), else the session's corpus index."""
    repository_index = PROJECT_ROOT / "var" / "index"
    try:
        version = current_version_dir(repository_index)
    except IndexNotFoundError:
        corpus_index: Path = request.getfixturevalue("corpus_index")
        return corpus_index
    copy = tmp_path / "index"
    shutil.copytree(version, copy / version.relative_to(repository_index))
    shutil.copy2(repository_index / CURRENT, copy / CURRENT)
    return copy


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, SmtpSettings]]:
    """A real SMTP server on loopback, and the settings that send to it."""
    with mail_server() as (box, port):
        yield box, SmtpSettings(host="127.0.0.1", port=port, security="none", timeout_seconds=5)


async def database_serves(
    database: Database, read: type[SQLModel], write: UpdateBase | None = None
) -> None:
    """While a Telegram call hangs: the database serves a read (of rows that exist) and a
    write (a no-op update of the privacy requests unless `write` is given), which an open
    transaction would block (SQLite's lock refuses the write too). The bound only keeps a
    regression from hanging the run; it measures nothing."""
    if write is None:
        write = (
            update(PrivacyRequest)
            .where(col(PrivacyRequest.id) == "no-such-request")
            .values(updated_at=utc_now())
        )
    async with asyncio.timeout(10), database.session() as session:
        assert (await session.exec(select(read))).all()
        await session.exec(write)
