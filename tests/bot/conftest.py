"""A running assistant for end-to-end tests: the real dispatcher, the real index of the five
demo policies, a SQLite database, and a fake Telegram Bot API server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

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
from indexer.settings import IndexerSettings
from tests.conftest import KNOWLEDGE
from tests.support.fake_bot_api import ApiCall, FakeBotAPI

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
    **bot_settings: Any,
) -> AsyncIterator[Assistant]:
    settings = BotSettings(bot_token="42:TEST", **bot_settings)
    backend = BackendSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'assistant.sqlite3'}",
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


class Mailbox:
    """A real SMTP server on loopback (aiosmtpd) that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def sent_to(self, address: str) -> list[email.message.EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    async def code_for(self, address: str, count: int = 1) -> str:
        """The code in the `count`-th message to `address`, waiting for it to arrive."""
        for _ in range(200):
            received = self.sent_to(address)
            if len(received) >= count:
                body = received[count - 1].get_content()
                found = re.search(r"\b(\d{6})\b", body)
                assert found, body
                return found.group(1)
            await asyncio.sleep(0.05)
        raise AssertionError(f"no message {count} to {address}")


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, SmtpSettings]]:
    box = Mailbox()
    with socket.socket() as probe:  # a free port; aiosmtpd cannot report an ephemeral one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, SmtpSettings(host="127.0.0.1", port=port, security="none", timeout_seconds=5)
    finally:
        controller.stop()
