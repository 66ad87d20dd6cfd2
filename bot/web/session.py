"""The Bot API, as the web door answers it: the bot sends, the visitor's page shows.

`WebSession` takes the methods the bot uses in a private chat (send, edit, delete, answer a
button, send a document, chat action) for web chats and turns them into transcript events
and frames. `DoorSession` is the Bot's session in every mode that has the web door: a
method for a web chat goes to the web, anything else (a customer's Telegram chat, a
support group) to Telegram's own session, with its pacing and claims; with no Telegram
token at all, only web chats exist.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import (
    AnswerCallbackQuery,
    CopyMessage,
    DeleteMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    ForwardMessage,
    GetMe,
    SendChatAction,
    SendDocument,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import BufferedInputFile, Chat, InlineKeyboardMarkup, Message, User

from bot.web import frames
from bot.web.transcript import Transcript
from bot.web.visitors import is_web_chat

WEB_BOT = User(id=10, is_bot=True, first_name="Privacy help", username="web_privacy_bot")
CALLBACK_PREFIX = "web:"


def callback_id(chat_id: int, number: int) -> str:
    """A button press's id names its chat, so that its answer finds the way back."""
    return f"{CALLBACK_PREFIX}{chat_id}:{number}"


def _callback_chat(query_id: str) -> int | None:
    if not query_id.startswith(CALLBACK_PREFIX):
        return None
    chat, _, _ = query_id[len(CALLBACK_PREFIX) :].partition(":")
    return int(chat) if chat.isdigit() else None


def web_target(method: TelegramMethod[Any]) -> int | None:
    """The web chat a method is for, or None when it is for Telegram."""
    if isinstance(method, AnswerCallbackQuery):
        return _callback_chat(method.callback_query_id)
    chat_id = getattr(method, "chat_id", None)
    return chat_id if is_web_chat(chat_id) else None


class WebSession:
    """Bot API methods for web chats, as transcript events."""

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript

    def _message(self, bot: Bot, chat_id: int, message_id: int, safe: str, markup: Any) -> Message:
        return Message(
            message_id=message_id,
            date=datetime.now(UTC),
            chat=Chat(id=chat_id, type="private"),
            from_user=User(id=bot.id, is_bot=True, first_name=WEB_BOT.first_name),
            text=frames.plain_text(safe),
            reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
        )

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], chat_id: int) -> Any:
        if isinstance(method, SendMessage):
            safe = frames.message_html(method.text, method.parse_mode, method.entities)
            event = frames.bot_message(safe, frames.buttons(method.reply_markup))
            stored = await self.transcript.append(chat_id, event)
            return self._message(bot, chat_id, stored["message_id"], safe, method.reply_markup)
        if isinstance(method, EditMessageText):
            assert method.message_id is not None
            safe = frames.message_html(method.text or "", method.parse_mode, method.entities)
            edit = {"type": "edit", "message_id": method.message_id, "html": safe}
            await self.transcript.append(
                chat_id, edit | {"buttons": frames.buttons(method.reply_markup)}
            )
            return self._message(bot, chat_id, method.message_id, safe, method.reply_markup)
        if isinstance(method, EditMessageReplyMarkup):
            assert method.message_id is not None
            rows = frames.buttons(method.reply_markup)
            edit = {"type": "edit", "message_id": method.message_id, "buttons": rows}
            await self.transcript.append(chat_id, edit)
            return self._message(bot, chat_id, method.message_id, "", method.reply_markup)
        if isinstance(method, DeleteMessage):
            await self.transcript.append(
                chat_id, {"type": "delete", "message_id": method.message_id}
            )
            return True
        if isinstance(method, SendChatAction):
            await self.transcript.announce(chat_id, {"type": "typing"})
            return True
        if isinstance(method, AnswerCallbackQuery):
            # Every press is answered, with words or without: the page unlocks its buttons.
            toast = {"type": "toast", "text": method.text or ""}
            await self.transcript.announce(chat_id, toast)
            return True
        if isinstance(method, SendDocument):
            return await self._document(bot, method, chat_id)
        if isinstance(method, CopyMessage | ForwardMessage):
            # A web page has no Telegram message to copy from; the hand-off relay sends the
            # text instead (bot.handoff.relay).
            raise TelegramBadRequest(
                method,  # type: ignore[misc]
                "a web chat takes sent messages, not copies",
            )
        return True  # a reaction, a pin: nothing a web page shows

    async def _document(self, bot: Bot, method: SendDocument, chat_id: int) -> Message:
        document = method.document
        if not isinstance(document, BufferedInputFile):
            raise TelegramBadRequest(method, "a web chat takes files sent as bytes")
        token = secrets.token_urlsafe(24)
        name = document.filename or "file"
        await self.transcript.put_file(token, chat_id, name, document.data)
        file = {"name": name, "url": f"/chat/files/{token}"}
        safe = frames.message_html(method.caption or "", method.parse_mode, method.caption_entities)
        stored = await self.transcript.append(chat_id, frames.bot_message(safe, [], file))
        return self._message(bot, chat_id, stored["message_id"], safe, None)


class DoorSession(BaseSession):
    """Routes each method to the door of its chat: the web, or Telegram (when there is a
    token; without one a method for Telegram is refused as Telegram would refuse an
    unknown chat)."""

    def __init__(self, web: WebSession, telegram: BaseSession | None = None) -> None:
        super().__init__()
        self.web = web
        self.telegram = telegram
        if telegram is not None:
            self.api = telegram.api

    async def close(self) -> None:
        if self.telegram is not None:
            await self.telegram.close()

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 (the BaseSession signature)
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        if self.telegram is None:
            raise RuntimeError("no Telegram: nothing to download")
        async for chunk in self.telegram.stream_content(
            url, headers, timeout, chunk_size, raise_for_status
        ):
            yield chunk

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (the BaseSession signature)
    ) -> TelegramType:
        chat_id = web_target(method)
        if chat_id is not None:
            return await self.web.make_request(bot, method, chat_id)  # type: ignore[no-any-return]
        if self.telegram is not None:
            return await self.telegram(bot, method, timeout)
        if isinstance(method, GetMe):
            return WEB_BOT  # type: ignore[return-value]
        raise TelegramBadRequest(method, "chat not found (no Telegram token: web chats only)")
