"""A chat in the terminal, for trying the assistant with no Telegram token and no network.

The real dispatcher, routers and middlewares run; only the Bot's session is replaced by
one that prints what the bot sends and answers like Telegram would. Buttons are numbered:
type the number to press one. The notice relay runs beside the chat as it does beside
Telegram, so what happens to a privacy request reaches the customer here too; a file the
bot sends (an access export) is saved and its path shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import sys
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageText,
    GetMe,
    SendDocument,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    Chat,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)
from aiogram.utils.i18n import I18n

from backend.privacy_requests.exports import ExportPolicy
from bot.notices import NoticeRelay
from bot.services import Services

LOCAL_CHAT_ID = 1
BOT_USER = User(id=10, is_bot=True, first_name="Privacy help", username="local_privacy_bot")


def _terminal_text(html: str) -> str:
    """Telegram HTML to plain terminal text: quotes indented, tags dropped."""
    text = re.sub(
        r"<blockquote>(.*?)</blockquote>",
        lambda m: "\n".join("  │ " + line for line in m.group(1).split("\n")),
        html,
        flags=re.S,
    )
    return unescape(re.sub(r"</?[a-z-]+[^>]*>", "", text))


def readable(line: str) -> str:
    """A line as valid Unicode: bytes that were not UTF-8 (kept as lone surrogates by
    input() in the C locale) become U+FFFD, like any odd character a customer types."""
    try:
        return line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that stands for no byte
        return line.encode("utf-8", "replace").decode("utf-8")


def terminal_lines(
    stream: BinaryIO | None = None, out: TextIO = sys.stdout, prompt: str = "> "
) -> Callable[[], str]:
    """A reader of the terminal's lines (EOFError at the end) that takes whatever bytes are
    typed: what is not UTF-8 is read as U+FFFD, never an error."""
    source = stream if stream is not None else sys.stdin.buffer

    def read_line() -> str:
        print(prompt, end="", file=out, flush=True)
        line = source.readline()
        if not line:
            raise EOFError
        return line.decode("utf-8", "replace")

    return read_line


class TerminalSession(BaseSession):
    """Answers the Bot API methods the bot uses, printing what a customer would see; a file
    sent is written into `downloads` (when given) and its path printed."""

    def __init__(self, out: TextIO = sys.stdout, downloads: Path | None = None) -> None:
        super().__init__()
        self.out = out
        self.downloads = downloads
        self.buttons: list[str] = []  # callback data of the last keyboard, by number
        self.last_message: Message | None = None
        self._ids = itertools.count(1)

    async def close(self) -> None:
        return None

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 (the BaseSession signature)
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError("the local chat has no files to download")
        yield b""  # pragma: no cover

    def _show(self, text: str, markup: Any) -> None:
        print("\n" + _terminal_text(text), file=self.out)
        if isinstance(markup, InlineKeyboardMarkup):
            self.buttons = []
            for row in markup.inline_keyboard:
                labels = []
                for button in row:
                    self.buttons.append(button.callback_data or "")
                    labels.append(f"[{len(self.buttons)}] {button.text}")
                print("   " + "   ".join(labels), file=self.out)
        self.out.flush()

    def _message(self, text: str, markup: Any) -> Message:
        message = Message(
            message_id=next(self._ids),
            date=datetime.now(UTC),
            chat=Chat(id=LOCAL_CHAT_ID, type="private"),
            from_user=BOT_USER,
            text=_terminal_text(text),
            reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
        )
        self.last_message = message
        return message

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (the BaseSession signature)
    ) -> TelegramType:
        result: Any = True
        if isinstance(method, GetMe):
            result = BOT_USER
        elif isinstance(method, SendMessage | EditMessageText):
            self._show(method.text or "", method.reply_markup)
            result = self._message(method.text or "", method.reply_markup)
        elif isinstance(method, AnswerCallbackQuery):
            if method.text:
                print(f"  ({method.text})", file=self.out)
        elif isinstance(method, SendDocument):
            self._show(method.caption or "", None)
            print(f"[a file was sent: {self._save(method.document)}]", file=self.out, flush=True)
            result = self._message(method.caption or "", None)
        return result  # type: ignore[no-any-return]

    def _save(self, document: Any) -> str:
        """Where the file was written, or its name when it cannot be (no folder given)."""
        name = Path(getattr(document, "filename", None) or "file").name or "file"
        if self.downloads is None or not isinstance(document, BufferedInputFile):
            return name
        self.downloads.mkdir(parents=True, exist_ok=True)
        target, count = self.downloads / name, 1
        while target.exists():
            count += 1
            target = self.downloads / f"{Path(name).stem}-{count}{Path(name).suffix}"
        # The customer's own data: readable by this user only.
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(document.data)
        return str(target.resolve())


class LocalChat:
    def __init__(
        self,
        dispatcher: Dispatcher,
        session: TerminalSession | None = None,
        language: str | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.session = session or TerminalSession()
        self.bot = Bot("1:LOCAL", session=self.session)
        # The terminal's locale stands in for the Telegram client's language.
        language = language or (os.environ.get("LANG") or "en")[:2].lower()
        self.user = User(id=1001, is_bot=False, first_name="You", language_code=language)
        self._updates = itertools.count(1)

    def _update_for(self, line: str) -> Update:
        update_id = next(self._updates)
        if line.isdigit() and 0 < int(line) <= len(self.session.buttons):
            return Update(
                update_id=update_id,
                callback_query=CallbackQuery(
                    id=str(update_id),
                    from_user=self.user,
                    chat_instance="local",
                    message=self.session.last_message,
                    data=self.session.buttons[int(line) - 1],
                ),
            )
        return Update(
            update_id=update_id,
            message=Message(
                message_id=10_000 + update_id,
                date=datetime.now(UTC),
                chat=Chat(id=LOCAL_CHAT_ID, type="private"),
                from_user=self.user,
                text=line,
            ),
        )

    async def send(self, line: str) -> None:
        await self.dispatcher.feed_update(self.bot, self._update_for(readable(line)))

    async def run(self, read_line: Callable[[], str] = input, start_payload: str = "") -> None:
        print(
            "Local chat with the privacy help assistant. Type a question; a number presses "
            "a button; Ctrl-D or /quit ends.",
            file=self.session.out,
        )
        await self.send(f"/start {start_payload}".strip())
        while True:
            try:
                line = (await asyncio.to_thread(read_line)).strip()
            except EOFError:
                break
            if line in {"/quit", "/exit"}:
                break
            if line:
                await self.send(line)


async def run_local_chat(
    dispatcher: Dispatcher,
    services: Services,
    i18n: I18n,
    *,
    export_policy: ExportPolicy,
    read_line: Callable[[], str],
    start_payload: str = "",
    session: TerminalSession | None = None,
    language: str | None = None,
    notice_seconds: float = 2.0,
) -> None:
    """The terminal chat with the notice relay beside it, as in Telegram: a request's status
    change, a deletion's outcome and an access export reach this chat. An export comes as a
    file in the chat (its path), since no port is open for a download link."""
    chat = LocalChat(dispatcher, session, language)
    relay = NoticeRelay(
        chat.bot,
        services,
        i18n,
        export_policy=export_policy,
        public_url="",
        poll_seconds=notice_seconds,
        exports_in_chat=True,
    )
    stop = asyncio.Event()
    notices = asyncio.create_task(relay.run_forever(stop), name="local-notices")
    try:
        await chat.run(read_line, start_payload)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await notices
