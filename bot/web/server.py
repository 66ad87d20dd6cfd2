"""The web door's routes on the app's aiohttp server: the chat page, the widget, the static
files, a conversation's socket and its file downloads.

A socket carries one visitor's conversation with one shop. What the page sends becomes an
Update fed to the same dispatcher Telegram's updates go to; what the bot sends comes back
as frames from the conversation's transcript (bot.web.transcript), wherever it was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import mimetypes
import weakref
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from aiogram import Bot, Dispatcher
from aiogram.types import CallbackQuery, Chat, Message, Update, User
from aiogram.utils.i18n import I18n
from aiohttp import WSCloseCode, WSMsgType, web

from backend.observability.logs import request_context
from backend.observability.metrics import WEB_CHAT_REFUSED, WEB_CHAT_SOCKETS
from bot.middlewares.observing import typed_texts
from bot.middlewares.throttling import MemoryRateWindows, RateWindows, RedisRateWindows
from bot.services import Services
from bot.shop_directory import ShopDirectory
from bot.web import frames
from bot.web.page import (
    page_language,
    refusal,
    render_page,
    security_headers,
    static_bytes,
)
from bot.web.session import callback_id
from bot.web.settings import WebChatSettings
from bot.web.transcript import Frame, MemoryTranscript, Transcript
from bot.web.visitors import COOKIE_NAME, VisitorCookies, is_web_chat

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("bot.web")

ORIGIN_REFUSED = 4403
TOO_MANY_SOCKETS = 4429
STATIC_FILES = {"chat.js", "chat.css", "widget.js"}
COOKIE_DAYS = 365


@dataclass
class Conversation:
    """One socket: whose, which shop, in which language."""

    chat_id: int
    visitor: str
    shop_id: str
    language: str
    address: str

    def user(self) -> User:
        return User(
            id=self.chat_id, is_bot=False, first_name="Web visitor", language_code=self.language
        )

    def chat(self) -> Chat:
        return Chat(id=self.chat_id, type="private")


class WebDoor:
    """Installed on the app before it starts; attached to the dispatcher once that exists
    (until then the page and socket answer 503)."""

    def __init__(self, settings: WebChatSettings | None = None) -> None:
        self.settings = settings or WebChatSettings()
        self.dispatcher: Dispatcher | None = None
        self.bot: Bot | None = None
        self.i18n: I18n | None = None
        self.shops = ShopDirectory([])
        self.cookies = VisitorCookies(b"")
        self.transcript: Transcript = MemoryTranscript()
        self._updates = itertools.count(1)
        self._presses = itertools.count(1)
        self._by_visitor: dict[str, int] = defaultdict(int)
        self._by_address: dict[str, int] = defaultdict(int)
        self._open: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self._windows: RateWindows = MemoryRateWindows(
            self.settings.frames_per_address, self.settings.frames_window_seconds
        )

    def attach(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        i18n: I18n,
        services: Services,
        transcript: Transcript,
        redis: Redis | None = None,
    ) -> None:
        """Ready to serve: the dispatcher and Bot of this process, and where conversations
        are kept. A /forget erases the web transcript of that chat too. With `redis`, the
        replicas share the per-address windows (an address meets one limit, wherever the
        balancer sends its sockets)."""
        if redis is not None:
            self._windows = RedisRateWindows(
                redis,
                self.settings.frames_per_address,
                self.settings.frames_window_seconds,
                prefix="privacy-assistant:web-address:",
            )
        self.shops = services.shops
        self.cookies = VisitorCookies(services.pseudonym_key)
        self.transcript = transcript
        services.forget_hooks.append(self._forget)
        self.dispatcher, self.bot, self.i18n = dispatcher, bot, i18n

    async def _forget(self, chat_id: int) -> None:
        if is_web_chat(chat_id):
            await self.transcript.forget(chat_id)

    def install(self, app: web.Application) -> None:
        # Open sockets would hold a graceful stop until aiohttp's shutdown timeout; closed
        # with "going away", their pages reconnect (to another replica, or once back).
        app.on_shutdown.append(self._close_sockets)
        app.router.add_get("/chat/static/{name}", self.static_file)
        app.router.add_get("/widget.js", self.widget)
        app.router.add_get("/chat/files/{token}", self.download)
        app.router.add_get("/chat/{shop}/socket", self.socket)
        app.router.add_get("/chat/{shop}", self.page)

    # ---- pages and files -------------------------------------------------------------

    def _shop(self, request: web.Request) -> Any:
        shop = self.shops.resolve(request.match_info["shop"])
        if shop is None:
            raise web.HTTPNotFound(text="no such shop")
        return shop

    async def page(self, request: web.Request) -> web.StreamResponse:
        if self.i18n is None:
            raise web.HTTPServiceUnavailable(text="starting")
        shop = self._shop(request)
        language = page_language(request, shop)
        socket = f"/chat/{quote(shop.id)}/socket?lang={language}"
        body = render_page(
            shop, language, self.i18n, embed=request.query.get("embed") == "1", socket=socket
        )
        response = web.Response(
            text=body,
            content_type="text/html",
            headers=security_headers(shop.web.allowed_origins),
        )
        if self.cookies.visitor(request.cookies.get(COOKIE_NAME)) is None:
            self._set_cookie(response)
        return response

    def _set_cookie(self, response: web.StreamResponse) -> None:
        _visitor, value = self.cookies.new()
        response.set_cookie(
            COOKIE_NAME,
            value,
            max_age=COOKIE_DAYS * 86400,
            path="/chat",
            httponly=True,
            secure=True,
            samesite="Lax",
        )

    async def static_file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise web.HTTPNotFound()
        return self._file_response(name)

    async def widget(self, request: web.Request) -> web.StreamResponse:
        return self._file_response("widget.js")

    def _file_response(self, name: str) -> web.StreamResponse:
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if content_type == "text/javascript":
            content_type = "application/javascript"
        return web.Response(
            body=static_bytes(name),
            content_type=content_type,
            charset="utf-8",
            headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
        )

    async def download(self, request: web.Request) -> web.StreamResponse:
        """A file the bot sent (an access export): to its visitor only."""
        visitor = self.cookies.visitor(request.cookies.get(COOKIE_NAME))
        found = await self.transcript.file(request.match_info["token"])
        if visitor is None or found is None:
            raise web.HTTPNotFound(text="no such file")
        chat_id, name, data = found
        if not any(
            self.cookies.chat_id(visitor, shop_id) == chat_id
            for shop_id, _n in self.shops.choices()
        ):
            raise web.HTTPNotFound(text="no such file")
        return web.Response(
            body=data,
            content_type="application/octet-stream",
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    # ---- the socket --------------------------------------------------------------------

    def origin_allowed(self, request: web.Request, allowed: list[str]) -> bool:
        """The page's own host, or an origin the shop allows. A request with no Origin is
        not a browser page (browsers always send one on a WebSocket handshake)."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        if origin in allowed:
            return True
        parts = urlsplit(origin)
        return parts.netloc == request.host and parts.scheme in ("http", "https")

    async def socket(self, request: web.Request) -> web.StreamResponse:
        if self.dispatcher is None:
            raise web.HTTPServiceUnavailable(text="starting")
        shop = self._shop(request)
        ws = web.WebSocketResponse(
            max_msg_size=self.settings.max_frame_bytes, heartbeat=30.0, autoping=True
        )
        await ws.prepare(request)
        if not self.origin_allowed(request, shop.web.allowed_origins):
            WEB_CHAT_REFUSED.labels("origin").inc()
            await ws.close(code=ORIGIN_REFUSED, message=b"origin not allowed")
            return ws
        visitor = self.cookies.visitor(request.cookies.get(COOKIE_NAME))
        if visitor is None:
            # No cookie (a browser that keeps none for this site): a visitor for this socket.
            visitor, _value = self.cookies.new()
        address = request.remote or "?"
        if (
            self._by_visitor[visitor] >= self.settings.sockets_per_visitor
            or self._by_address[address] >= self.settings.sockets_per_address
        ):
            WEB_CHAT_REFUSED.labels("sockets").inc()
            await ws.close(code=TOO_MANY_SOCKETS, message=b"too many open chats")
            return ws
        language = page_language(request, shop)
        conversation = Conversation(
            self.cookies.chat_id(visitor, shop.id), visitor, shop.id, language, address
        )
        self._by_visitor[visitor] += 1
        self._by_address[address] += 1
        self._open.add(ws)
        WEB_CHAT_SOCKETS.inc()
        try:
            await self._converse(ws, conversation)
        finally:
            WEB_CHAT_SOCKETS.dec()
            self._open.discard(ws)
            self._release(visitor, address)
        return ws

    async def _close_sockets(self, _app: web.Application) -> None:
        await asyncio.gather(
            *(
                socket.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")
                for socket in list(self._open)
            ),
            return_exceptions=True,
        )

    def _release(self, visitor: str, address: str) -> None:
        for counts, key in ((self._by_visitor, visitor), (self._by_address, address)):
            counts[key] -= 1
            if counts[key] <= 0:
                del counts[key]

    async def _converse(self, ws: web.WebSocketResponse, conversation: Conversation) -> None:
        with self.transcript.listeners.listen(conversation.chat_id) as queue:
            pump = Pump(ws, self.transcript, conversation.chat_id)
            writer: asyncio.Task[None] | None = None
            try:
                async with asyncio.timeout(self.settings.idle_seconds) as deadline:
                    async for frame in ws:
                        deadline.reschedule(
                            asyncio.get_running_loop().time() + self.settings.idle_seconds
                        )
                        if frame.type != WSMsgType.TEXT:
                            continue
                        data = _frame(frame.data)
                        if data is None:
                            await pump.send(self._refusal("bad_frame", conversation))
                            continue
                        if data.get("type") == "hello" and writer is None:
                            after = data.get("after")
                            await pump.catch_up(after if isinstance(after, int) else 0)
                            await ws.send_json({"type": "ready"})
                            writer = asyncio.create_task(pump.run(queue))
                            await self._greet(conversation, pump.last)
                        elif writer is not None:
                            await self._take_safely(conversation, data, pump)
            except TimeoutError:
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"idle")
            finally:
                if writer is not None:
                    writer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await writer

    def _refusal(self, reason: str, conversation: Conversation, nonce: Any = None) -> Frame:
        assert self.i18n is not None
        WEB_CHAT_REFUSED.labels(reason).inc()
        return refusal(
            reason, conversation.language, self.i18n, nonce if isinstance(nonce, str) else None
        )

    async def _greet(self, conversation: Conversation, last: int) -> None:
        """A new conversation opens with the assistant's welcome for this shop, once."""
        if last == 0 and await self.transcript.first_time(conversation.chat_id, "welcome"):
            await self._feed(
                conversation,
                Message(
                    message_id=0,
                    date=datetime.now(UTC),
                    chat=conversation.chat(),
                    from_user=conversation.user(),
                    text=f"/start {conversation.shop_id}",
                ),
            )

    async def _take_safely(self, conversation: Conversation, data: Frame, pump: Pump) -> None:
        """A frame whose handling failed (Redis or the database away) is refused with a
        message, and the socket stays: the page offers the text again."""
        try:
            await self._take(conversation, data, pump)
        except Exception:
            log.exception("a web chat frame could not be taken")
            nonce = data.get("nonce") if data.get("type") == "message" else None
            await pump.send(self._refusal("unavailable", conversation, nonce))

    async def _take(self, conversation: Conversation, data: Frame, pump: Pump) -> None:
        kind = data.get("type")
        if kind not in ("message", "press"):
            return
        if not await self._windows.allow(conversation.address):
            nonce = data.get("nonce") if kind == "message" else None
            await pump.send(self._refusal("too_fast", conversation, nonce))
            return
        if kind == "message":
            await self._message(conversation, data, pump)
        else:
            await self._press(conversation, data, pump)

    async def _message(self, conversation: Conversation, data: Frame, pump: Pump) -> None:
        text, nonce = data.get("text"), data.get("nonce")
        if not isinstance(text, str) or not isinstance(nonce, str) or not 0 < len(nonce) <= 64:
            await pump.send(self._refusal("bad_frame", conversation))
            return
        text = text.strip()
        if len(text) > self.settings.max_message_chars:
            await pump.send(self._refusal("too_long", conversation, nonce))
            return
        if not text or not await self.transcript.first_time(conversation.chat_id, nonce):
            return  # nothing to say, or a message resent after a reconnect: taken already
        try:
            echo = await self.transcript.append(
                conversation.chat_id, frames.customer_message(text, nonce)
            )
        except Exception:
            # Not taken after all: the page's resend with this nonce must not be dropped.
            await self.transcript.release_nonce(conversation.chat_id, nonce)
            raise
        await self._feed(
            conversation,
            Message(
                message_id=echo["message_id"],
                date=datetime.now(UTC),
                chat=conversation.chat(),
                from_user=conversation.user(),
                text=text,
            ),
        )

    async def _press(self, conversation: Conversation, data: Frame, pump: Pump) -> None:
        message_id, button = data.get("message_id"), data.get("data")
        if not isinstance(message_id, int) or not isinstance(button, str) or len(button) > 64:
            await pump.send(self._refusal("bad_frame", conversation))
            return
        shown = await self._shown_message(conversation.chat_id, message_id)
        if shown is None:
            return  # a message this conversation no longer has (forgotten)
        query = CallbackQuery(
            id=callback_id(conversation.chat_id, next(self._presses)),
            from_user=conversation.user(),
            chat_instance=str(conversation.chat_id),
            message=shown,
            data=button,
        )
        await self._feed(conversation, query)

    async def _shown_message(self, chat_id: int, message_id: int) -> Message | None:
        # The latest version of the message: its last edit with a text, else the message.
        html = next(
            (
                event["html"]
                for event in reversed(await self.transcript.since(chat_id, 0))
                if event.get("message_id") == message_id
                and event["type"] in ("message", "edit")
                and "html" in event
            ),
            None,
        )
        if html is None:
            return None
        return Message(
            message_id=message_id,
            date=datetime.now(UTC),
            chat=Chat(id=chat_id, type="private"),
            from_user=User(id=self.bot.id if self.bot else 0, is_bot=True, first_name="Bot"),
            text=frames.plain_text(html),
        )

    async def _feed(self, conversation: Conversation, event: Message | CallbackQuery) -> None:
        assert self.dispatcher is not None and self.bot is not None
        update_id = next(self._updates)
        update = (
            Update(update_id=update_id, message=event)
            if isinstance(event, Message)
            else Update(update_id=update_id, callback_query=event)
        )
        # Logged like a Telegram update: under its own id, the customer's words kept out.
        with request_context(f"web-update-{update_id}", *typed_texts(update)):
            try:
                # The page is the shop's: its conversation is about that shop.
                await self.dispatcher.feed_update(self.bot, update, door_shop=conversation.shop_id)
            except Exception:
                log.exception("a web update failed")


class Pump:
    """Sends a conversation's events to one socket in order, each once: live from the
    queue, and from the transcript when the queue shows a gap."""

    def __init__(self, ws: web.WebSocketResponse, transcript: Transcript, chat_id: int) -> None:
        self.ws = ws
        self.transcript = transcript
        self.chat_id = chat_id
        self.last = 0
        self._lock = asyncio.Lock()

    async def send(self, frame: Frame) -> None:
        async with self._lock:
            with contextlib.suppress(ConnectionResetError):
                await self.ws.send_str(json.dumps(frame, ensure_ascii=False))

    async def catch_up(self, after: int) -> None:
        self.last = max(self.last, after)
        for event in await self.transcript.since(self.chat_id, self.last):
            await self._stored(event)

    async def _stored(self, event: Frame) -> None:
        if event["seq"] <= self.last:
            return
        self.last = event["seq"]
        await self.send(event)

    async def run(self, queue: asyncio.Queue[Frame]) -> None:
        while True:
            frame = await queue.get()
            if "seq" not in frame:
                if frame.get("type") == "behind":
                    await self.catch_up(self.last)
                else:
                    await self.send(frame)
            elif frame["seq"] > self.last + 1:
                await self.catch_up(self.last)  # something was missed: the store has it
            else:
                await self._stored(frame)


def _frame(raw: str) -> Frame | None:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python parses
        return None
    return data if isinstance(data, dict) else None
