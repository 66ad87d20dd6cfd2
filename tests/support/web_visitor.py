"""A web visitor in Python: loads the chat page (and keeps its cookie), opens the
conversation's socket and speaks its frames (bot/web/PROTOCOL.md), as the page's script
does. For tests of the web door below the browser, and for its benchmark."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
from yarl import URL

Frame = dict[str, Any]


class WebVisitor:
    def __init__(
        self,
        base_url: str,
        shop: str,
        *,
        language: str = "en",
        session: aiohttp.ClientSession | None = None,
        origin: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.shop = shop
        self.language = language
        self.origin = origin if origin is not None else self.base_url
        # The visitor cookie is Secure: kept over plain HTTP for this test server only.
        self.session = session or aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[URL(self.base_url)])
        )
        self._own_session = session is None
        self.events: list[Frame] = []  # stored events, in order, each once
        self.transient: list[Frame] = []  # typing, toasts, errors
        self.ready = asyncio.Event()
        self.closed: int | None = None  # the close code, once closed
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @property
    def last_seq(self) -> int:
        return self.events[-1]["seq"] if self.events else 0

    async def open_page(self) -> aiohttp.ClientResponse:
        url = f"{self.base_url}/chat/{self.shop}?lang={self.language}"
        async with self.session.get(url) as response:
            await response.read()
            return response

    async def connect(self, after: int | None = None) -> None:
        """Open the socket and say hello (with the last event shown unless `after`)."""
        self.ready.clear()
        self.closed = None
        url = f"{self.base_url}/chat/{self.shop}/socket?lang={self.language}"
        self._ws = await self.session.ws_connect(url, origin=self.origin)
        self._reader = asyncio.create_task(self._read(self._ws))
        await self._ws.send_json(
            {"type": "hello", "after": self.last_seq if after is None else after}
        )

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            if frame.get("type") == "ready":
                self.ready.set()
            elif "seq" in frame:
                if frame["seq"] > self.last_seq:
                    self.events.append(frame)
            else:
                self.transient.append(frame)
            self._changed.set()
        self.closed = ws.close_code
        self._changed.set()

    async def wait(self, check: Callable[[], Any], seconds: float = 30) -> Any:
        """The first truthy `check()`, re-checked whenever a frame arrives."""
        async with asyncio.timeout(seconds):
            while True:
                found = check()
                if found:
                    return found
                self._changed.clear()
                await self._changed.wait()

    def bot_messages(self) -> list[Frame]:
        return [e for e in self.events if e["type"] == "message" and e["from"] == "bot"]

    async def next_bot_message(self, after: int, seconds: float = 30) -> Frame:
        """The first bot message with a number above `after`."""
        return await self.wait(  # type: ignore[no-any-return]
            lambda: next((e for e in self.bot_messages() if e["seq"] > after), None), seconds
        )

    async def send_frame(self, frame: Frame) -> None:
        assert self._ws is not None
        await self._ws.send_json(frame)

    async def say(self, text: str, nonce: str | None = None) -> Frame:
        """Send a message; the bot's first message after it."""
        before = self.last_seq
        await self.send_frame({"type": "message", "text": text, "nonce": nonce or uuid.uuid4().hex})
        return await self.next_bot_message(before)

    async def press(self, message: Frame, label: str) -> None:
        """Press the button whose label contains `label` under `message`."""
        data = next(
            button["data"]
            for row in message["buttons"]
            for button in row
            if label in button["text"]
        )
        await self.send_frame({"type": "press", "message_id": message["message_id"], "data": data})

    async def answer_to_press(self, message: Frame, label: str) -> Frame:
        """Press a button; the bot message or edit that answers it."""
        before = self.last_seq
        await self.press(message, label)
        return await self.wait(  # type: ignore[no-any-return]
            lambda: next((e for e in self.events if _answer_after(e, before)), None)
        )

    async def toast(self, count: int = 1) -> str:
        """The text of the `count`-th toast (a button's short answer)."""
        toasts = await self.wait(
            lambda: (
                (found := [f["text"] for f in self.transient if f["type"] == "toast"])[count - 1 :]
                and found
            )
        )
        return str(toasts[count - 1])

    async def disconnect(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader
        self._ws = self._reader = None

    async def close(self) -> None:
        await self.disconnect()
        if self._own_session:
            await self.session.close()


def _answer_after(event: Frame, before: int) -> bool:
    """A bot message or an edit numbered above `before`."""
    return event["seq"] > before and (event["type"] == "edit" or event.get("from") == "bot")
