"""A fake Telegram Bot API server for end-to-end tests of aiogram bots.

`FakeBotAPI` is a real aiohttp web server on ``127.0.0.1`` (random free port) that speaks
enough of the Bot API for a bot to run unmodified: the bot is created with
``AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))`` and talks HTTP to it,
exactly as it would to ``api.telegram.org``. Nothing in aiogram is patched.

Usage::

    async with FakeBotAPI() as fake:
        bot = fake.make_bot()
        fake.push_update(fake.message_update("/start"))
        ...  # run a Dispatcher in polling mode, or deliver_webhook(...) to a webhook app
        [call] = await fake.wait_for("sendMessage")
        assert call.params["text"] == "Hi!"
        await bot.session.close()

What it models (on purpose, because real bots trip over these):

* request encodings: ``multipart/form-data`` (uploads), ``application/x-www-form-urlencoded``
  (what aiogram sends when there is no file), ``application/json`` and query-string
  parameters. Form values are decoded like Telegram does: complex fields arrive as JSON strings
  (``reply_markup``, ``entities``, ``reply_parameters``...), numbers and booleans as JSON
  literals, text fields verbatim. Uploads referenced as ``attach://<part name>`` are resolved.
* ``getUpdates`` long polling with offset confirmation, ``limit``, ``timeout``,
  ``allowed_updates`` (remembered between calls; updates of other types are dropped) and
  the 409 conflicts (webhook active, or a newer ``getUpdates`` terminating an older one).
* HTML ``parse_mode``: the allowed tag set, balanced tags, ``&lt;``-style escapes; errors are
  reported like Telegram's ("can't parse entities: Unsupported start tag "br" at byte offset 6")
  and successful parses yield plain ``text`` + ``entities`` in the returned message.
  ``Markdown``/``MarkdownV2`` are accepted without validation (text stored verbatim).
* length limits (4096 text / 1024 caption, counted after entity parsing), ``callback_data``
  of 1-64 bytes, inline buttons without an action, "message is not modified", "message to edit
  not found", editing without ``reply_markup`` removing the inline keyboard, forum topics
  (created, closed, deleted or forgotten), blocked users and left chats (403).
* editing texts and captions (``editMessageText``, ``editMessageCaption``); users' messages of
  any kind in groups and forum topics, as replies, and their edits (the update builders).

Error descriptions for the common cases are Telegram's own wording; rarer ones are close
approximations. Every request is recorded in `FakeBotAPI.calls`, including rejected ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import mimetypes
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import TracebackType
from typing import Any, Final, NoReturn, Self

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import BodyPartReader, ClientError, ClientSession, ClientTimeout, MultipartReader, web

__all__ = ["ApiCall", "FakeBotAPI", "UploadedFile", "parse_telegram_html"]

MAX_TEXT_LENGTH: Final = 4096
MAX_CAPTION_LENGTH: Final = 1024
MAX_CALLBACK_ANSWER_LENGTH: Final = 200
MAX_DOWNLOAD_SIZE: Final = 20 * 1024 * 1024

# Parameters that are always plain strings and must never be JSON-decoded (a text of "123"
# stays a string). Every other form value is tried as JSON first, because aiogram JSON-encodes
# every non-string scalar and every object/array.
# fmt: off
_STRING_FIELDS: Final = frozenset({
    "action", "animation", "audio", "business_connection_id", "callback_query_id", "caption",
    "certificate", "custom_emoji_id", "data", "description", "document", "emoji", "file_id",
    "icon_custom_emoji_id", "inline_message_id", "ip_address", "language_code",
    "message_effect_id", "name", "parse_mode", "photo", "secret_token", "short_description",
    "sticker", "text", "thumbnail", "title", "url", "video", "video_note", "voice",
})
# fmt: on

# fmt: off
_HTML_TAGS: Final = frozenset({
    "a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "blockquote",
    "tg-spoiler", "span", "tg-emoji",
})
# fmt: on
_HTML_ENTITY_TYPES: Final = {
    "a": "text_link",
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "tg-emoji": "custom_emoji",
}
_HTML_NAMED_ENTITIES: Final = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

_INLINE_BUTTON_ACTIONS: Final = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
# fmt: off
_CHAT_ACTIONS: Final = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
})
# fmt: on
_TOPIC_ICON_COLORS: Final = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)
_NOT_DEFAULT_UPDATE_TYPES: Final = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)
_CONTENT_KEYS: Final = (
    "text",
    "entities",
    "photo",
    "document",
    "sticker",
    "voice",
    "video",
    "caption",
    "caption_entities",
)
_MEDIA_KEYS: Final = ("photo", "document", "sticker", "voice", "video")
_FILE_KINDS: Final = {
    # kind: (file_id prefix, folder, default extension, default MIME type)
    "photo": ("AgAC", "photos", ".jpg", "image/jpeg"),
    "document": ("BQAC", "documents", ".bin", "application/octet-stream"),
    "voice": ("AwAC", "voice", ".oga", "audio/ogg"),
    "video": ("BAAC", "videos", ".mp4", "video/mp4"),
    "sticker": ("CAAC", "stickers", ".webp", "image/webp"),
}
_SECRET_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,256}")
_COMMAND_RE: Final = re.compile(r"[a-z0-9_]{1,32}")
_BUTTON_URL_RE: Final = re.compile(r"(https?|tg)://\S+", re.IGNORECASE)

NOT_MODIFIED: Final = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart request."""

    part_name: str
    filename: str
    content_type: str
    content: bytes


@dataclass
class ApiCall:
    """One request received by the fake (or executed from a webhook reply).

    ``params`` are the decoded parameters: JSON-encoded form fields are parsed (so
    ``params["reply_markup"]`` is a dict and ``params["chat_id"]`` an int). Uploaded files
    appear in ``params`` as ``"attach://<part>"`` and in ``files`` under the parameter they fill
    (e.g. ``files["photo"]``). ``at`` is ``time.monotonic()`` when the request arrived.
    ``status``/``response`` are the HTTP status and JSON body answered; both are ``None`` while a
    long-polling ``getUpdates`` is still pending (499 if the client went away).
    ``source`` is ``"http"`` or ``"webhook_reply"`` (a method returned in a webhook response).
    """

    method: str
    params: dict[str, Any]
    at: float
    files: dict[str, UploadedFile] = field(default_factory=dict)
    status: int | None = None
    response: dict[str, Any] | None = None
    source: str = "http"

    @property
    def ok(self) -> bool:
        """Whether the fake answered ``{"ok": true, ...}``."""
        return self.response is not None and bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        """The ``result`` field of a successful answer (``None`` otherwise)."""
        return None if self.response is None else self.response.get("result")

    @property
    def description(self) -> str | None:
        """The error ``description`` of a failed answer."""
        return None if self.response is None else self.response.get("description")


class _ApiError(Exception):
    """An error answer: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(
        self, error_code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass
class _Described:
    """A successful result that carries a ``description`` too (setWebhook & co)."""

    result: Any
    description: str


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    kind: str
    content: bytes
    file_name: str | None
    mime_type: str
    file_path: str


@dataclass
class _Failure:
    error_code: int
    description: str
    retry_after: int | None
    remaining: int


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    offset: int


def _now() -> int:
    return int(time.time())


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _bad_request(reason: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {reason}")


# --------------------------------------------------------------------------------------------
# HTML parse mode


def _decode_html_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode the character reference starting at ``text[pos] == "&"``.

    Telegram understands ``&lt; &gt; &amp; &quot;`` and numeric references; anything else is
    kept literally (so a lone ``&`` is fine). Returns ``(character, end position)`` or None.
    """
    end = text.find(";", pos + 1)
    if end == -1 or end - pos > 10:
        return None
    name = text[pos + 1 : end]
    if name in _HTML_NAMED_ENTITIES:
        return _HTML_NAMED_ENTITIES[name], end + 1
    if not name.startswith("#"):
        return None
    digits = name[1:]
    if digits[:1] in ("x", "X"):
        hex_digits = digits[1:]
        if not hex_digits or any(c not in "0123456789abcdefABCDEF" for c in hex_digits):
            return None
        code = int(hex_digits, 16)
    elif digits.isascii() and digits.isdigit():
        code = int(digits)
    else:
        return None
    if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), end + 1


def _unescape_html(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "&" and (decoded := _decode_html_entity(value, i)) is not None:
            out.append(decoded[0])
            i = decoded[1]
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def parse_telegram_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse ``text`` the way Telegram parses ``parse_mode=HTML``.

    Returns the plain text and its entities (offsets/lengths in UTF-16 code units). Raises
    `_ApiError` (400 "Bad Request: can't parse entities: ...") on unsupported tags, unbalanced
    tags or a bare ``<``, with Telegram's wording and UTF-8 byte offsets.
    """

    def fail(reason: str) -> NoReturn:
        raise _bad_request(f"can't parse entities: {reason}")

    def at(pos: int) -> str:
        return f"at byte offset {len(text[:pos].encode('utf-8'))}"

    out: list[str] = []
    u16 = 0
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char != "<":
            if char == "&" and (decoded := _decode_html_entity(text, i)) is not None:
                char, i = decoded
            else:
                i += 1
            out.append(char)
            u16 += _utf16_len(char)
            continue
        begin = i
        i += 1
        if i < n and text[i] == "/":  # an end tag
            i += 1
            name_start = i
            while i < n and not text[i].isspace() and text[i] != ">":
                i += 1
            end_name = text[name_start:i].lower()
            while i < n and text[i].isspace():
                i += 1
            if not stack:
                fail(f"Unexpected end tag {at(begin)}")
            if i >= n or text[i] != ">":
                fail(f"Unclosed end tag {at(begin)}")
            i += 1
            tag = stack.pop()
            if end_name and end_name != tag.name:
                fail(
                    f'Unmatched end tag {at(begin)}, expected "</{tag.name}>", '
                    f'found "</{end_name}>"'
                )
            _close_html_tag(tag, u16, stack, entities)
            continue
        name_start = i
        while i < n and not text[i].isspace() and text[i] != ">":
            i += 1
        if i >= n:
            fail(f"Unclosed start tag {at(begin)}")
        name = text[name_start:i].lower()
        if name not in _HTML_TAGS:
            fail(f'Unsupported start tag "{name}" {at(begin)}')
        attrs: dict[str, str] = {}
        while True:
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                fail(f"Unclosed start tag {at(begin)}")
            if text[i] == ">":
                i += 1
                break
            attr_start = i
            while i < n and not text[i].isspace() and text[i] not in "=>":
                i += 1
            attr = text[attr_start:i].lower()
            if not attr:
                fail(f'Empty attribute name in the tag "{name}" {at(attr_start)}')
            while i < n and text[i].isspace():
                i += 1
            value = ""
            if i < n and text[i] == "=":
                i += 1
                while i < n and text[i].isspace():
                    i += 1
                if i >= n:
                    fail(f"Unclosed start tag {at(begin)}")
                if text[i] in "\"'":
                    close = text.find(text[i], i + 1)
                    if close == -1:
                        fail(f"Unclosed start tag {at(begin)}")
                    value = _unescape_html(text[i + 1 : close])
                    i = close + 1
                else:
                    value_start = i
                    while i < n and (text[i].isalnum() or text[i] in "._-"):
                        i += 1
                    if i == value_start:
                        fail(f'Expected quote in the attribute "{attr}" of the tag "{name}"')
                    value = text[value_start:i]
            attrs[attr] = value
        if name == "span" and attrs.get("class") != "tg-spoiler":
            fail(f'Tag "span" must have class "tg-spoiler" {at(begin)}')
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            fail(f'Tag "tg-emoji" must have attribute "emoji-id" {at(begin)}')
        stack.append(_OpenTag(name, attrs, u16))
    if stack:
        fail(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close_html_tag(
    tag: _OpenTag, end: int, stack: list[_OpenTag], entities: list[dict[str, Any]]
) -> None:
    language = tag.attrs.get("class", "")
    parent = stack[-1] if stack else None
    if (
        tag.name == "code"
        and parent is not None
        and parent.name == "pre"
        and parent.offset == tag.offset
        and language.startswith("language-")
    ):
        parent.attrs["\0language"] = language.removeprefix("language-")
        return
    length = end - tag.offset
    if length <= 0:
        return
    entity: dict[str, Any] = {
        "type": _HTML_ENTITY_TYPES[tag.name],
        "offset": tag.offset,
        "length": length,
    }
    if tag.name == "a":
        if not tag.attrs.get("href"):
            return
        entity["url"] = tag.attrs["href"]
    elif tag.name == "pre" and tag.attrs.get("\0language"):
        entity["language"] = tag.attrs["\0language"]
    elif tag.name == "blockquote" and "expandable" in tag.attrs:
        entity["type"] = "expandable_blockquote"
    elif tag.name == "tg-emoji":
        entity["custom_emoji_id"] = tag.attrs["emoji-id"]
    entities.append(entity)


# --------------------------------------------------------------------------------------------
# Request decoding


def _decode_form_value(name: str, raw: str) -> Any:
    """Decode one form/query value: JSON for everything but plain-string parameters."""
    if name in _STRING_FIELDS:
        return raw

    def reject(constant: str) -> NoReturn:
        raise ValueError(constant)

    try:
        value = json.loads(raw, parse_constant=reject)
    except ValueError:
        return raw
    return raw if isinstance(value, str) else value


async def _read_multipart(
    reader: MultipartReader,
) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """Read a multipart body into plain fields and file parts (keyed by part name)."""
    fields: dict[str, str] = {}
    uploads: dict[str, UploadedFile] = {}
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        data = await part.read(decode=True)
        if part.filename:
            uploads[part.name] = UploadedFile(
                part_name=part.name,
                filename=part.filename,
                content_type=part.headers.get("Content-Type", "application/octet-stream"),
                content=bytes(data),
            )
        else:
            fields[part.name] = bytes(data).decode(part.get_charset("utf-8"))
    return fields, uploads


def _resolve_uploads(
    params: dict[str, Any], uploads: dict[str, UploadedFile]
) -> dict[str, UploadedFile]:
    """Key uploads by the parameter that references them (``photo="attach://x"``)."""
    files: dict[str, UploadedFile] = {}
    for part_name, upload in uploads.items():
        target = next(
            (key for key, value in params.items() if value == f"attach://{part_name}"), None
        )
        if target is None:
            target = part_name
            params.setdefault(part_name, f"attach://{part_name}")
        files[target] = upload
    return files


class FakeBotAPI:
    """A local fake of the Telegram Bot API, for driving an aiogram bot end to end.

    Public state: ``calls`` (every request, in order), ``sent`` (every message the fake created
    for the bot, as JSON dicts), ``webhook`` (last setWebhook parameters or None),
    ``dropped_updates`` (pushed updates discarded because of ``allowed_updates``) and
    ``internal_errors`` (bugs in the fake itself; each also answered as HTTP 500).
    """

    def __init__(self, token: str = "42:TEST", bot_username: str = "privacy_help_bot") -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_first_name = "Privacy Help"
        prefix = token.split(":", 1)[0]
        self.bot_id = int(prefix) if prefix.isdigit() else 42
        self.base_url = ""
        self.calls: list[ApiCall] = []
        self.sent: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None
        self.dropped_updates: list[dict[str, Any]] = []
        self.internal_errors: list[BaseException] = []

        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self._closing = False
        self._changed = asyncio.Event()
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(100_001)
        self._last_update_id = 100_000
        self._allowed_updates: frozenset[str] | None = None
        self._holds: dict[str, asyncio.Event] = {}
        self._poll_waiter: asyncio.Future[bool] | None = None
        self._webhook_error: tuple[int, str] | None = None
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._last_message_id: dict[int, int] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._topics: dict[tuple[int, int], dict[str, Any]] = {}
        self._gone_topics: set[tuple[int, int]] = set()
        self._callback_queries: dict[str, bool] = {}
        self._callback_ids = itertools.count(4_382_001_000_000_000_001)
        self._files: dict[str, _StoredFile] = {}
        self._file_seq = itertools.count(1)
        self._failures: dict[str, list[_Failure]] = {}
        self._garbled: dict[str, int] = {}
        self._blocked: set[int] = set()
        self._left: set[int] = set()
        self._member_status: dict[tuple[int, int], str] = {}
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}

        handlers: dict[str, Callable[[ApiCall], Any]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "sendChatAction": self._send_chat_action,
            "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message,
            "createForumTopic": self._create_forum_topic,
            "editForumTopic": self._edit_forum_topic,
            "closeForumTopic": self._close_forum_topic,
            "reopenForumTopic": self._reopen_forum_topic,
            "deleteForumTopic": self._delete_forum_topic,
            "getFile": self._get_file,
            "setMyCommands": self._set_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getMyCommands": self._get_my_commands,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "leaveChat": self._leave_chat,
        }
        # Bot API method names are case-insensitive.
        self._handlers = {name.lower(): (name, handler) for name, handler in handlers.items()}

    # ----------------------------------------------------------------------------------------
    # Lifecycle

    async def start(self) -> None:
        """Start serving on 127.0.0.1 with a free port; sets `base_url`."""
        if self._runner is not None:
            raise RuntimeError("FakeBotAPI already started")
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_not_found)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=1.0,
            handler_cancellation=True,
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def close(self) -> None:
        """Stop the server (waking any long poll) and close the webhook client session."""
        self._closing = True
        self._wake_poller(fresh=True)
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def make_bot(self, **bot_kwargs: Any) -> Bot:
        """An aiogram `Bot` whose session talks to this fake. Close ``bot.session`` yourself."""
        session = AiohttpSession(api=TelegramAPIServer.from_base(self.base_url))
        return Bot(self.token, session=session, **bot_kwargs)

    # ----------------------------------------------------------------------------------------
    # Inspection

    def calls_to(self, method: str) -> list[ApiCall]:
        """All recorded calls of ``method`` (case-insensitive), in arrival order."""
        wanted = method.lower()
        return [call for call in self.calls if call.method.lower() == wanted]

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain deadline is this helper's contract
        predicate: Callable[[ApiCall], bool] | None = None,
    ) -> list[ApiCall]:
        """Wait until at least ``count`` calls of ``method`` matching ``predicate`` arrived.

        Returns all matching calls so far (answered ones already carry ``status``/``response``;
        only a long-polling ``getUpdates`` is visible before it is answered). Raises
        AssertionError on timeout, listing what the fake did receive.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            matches = [
                call for call in self.calls_to(method) if predicate is None or predicate(call)
            ]
            if len(matches) >= count:
                return matches
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(self._timeout_report(method, count, timeout, predicate))
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """Current state of a message the fake knows (after edits), or None (deleted/unknown)."""
        stored = self._messages.get((chat_id, message_id))
        return copy.deepcopy(stored) if stored is not None else None

    def topic(self, chat_id: int, message_thread_id: int) -> dict[str, Any] | None:
        """A forum topic the fake knows: ForumTopic fields plus ``is_closed``."""
        stored = self._topics.get((chat_id, message_thread_id))
        return copy.deepcopy(stored) if stored is not None else None

    def my_commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """The command list last set by setMyCommands for that scope and language."""
        return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    def _timeout_report(
        self,
        method: str,
        count: int,
        timeout: float,
        predicate: Callable[[ApiCall], bool] | None,
    ) -> str:
        of_method = self.calls_to(method)
        matching = [c for c in of_method if predicate is None or predicate(c)]
        lines = [
            f"FakeBotAPI: timed out after {timeout}s waiting for {count} call(s) to {method}"
            + (" matching the predicate" if predicate else "")
            + f"; got {len(matching)}.",
            f"Received ({len(self.calls)}): {self._summary() or 'nothing'}",
        ]
        if predicate is not None and of_method:
            lines.append(f"Non-matching {method} params: {[c.params for c in of_method][-5:]}")
        if self._updates:
            lines.append(f"Unconfirmed queued updates: {[u['update_id'] for u in self._updates]}")
        if self.dropped_updates:
            types = [_update_type(u) for u in self.dropped_updates]
            lines.append(f"Updates dropped by allowed_updates: {types}")
        if self.internal_errors:
            lines.append(f"Internal errors in the fake: {self.internal_errors!r}")
        return "\n".join(lines)

    def _summary(self) -> str:
        parts: list[str] = []
        for (method, status), group in itertools.groupby(
            self.calls, key=lambda c: (c.method, c.status)
        ):
            n = len(list(group))
            label = method if n == 1 else f"{method} x{n}"
            if status not in (200, None):
                label += f" [{status}]"
            parts.append(label)
        failures = [
            f"{c.method}: {c.description}" for c in self.calls if c.status not in (200, None)
        ]
        text = ", ".join(parts)
        if failures:
            text += "\nErrors answered: " + "; ".join(failures[-5:])
        return text

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ----------------------------------------------------------------------------------------
    # Test controls

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; assigns ``update_id`` if missing and returns it."""
        update_id = self._assign_update_id(update)
        self._updates.append(copy.deepcopy(update))
        self._wake_poller(fresh=True)
        return update_id

    def add_file(self, content: bytes, file_name: str = "file.bin") -> str:
        """Register a file (served by getFile and the file endpoint); returns its file_id."""
        return self._register_file(content, "document", file_name=file_name).file_id

    def fail_next(
        self,
        method: str,
        *,
        error_code: int = 429,
        description: str = "Too Many Requests: retry after 1",
        retry_after: int | None = 1,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with this error.

        The HTTP status equals ``error_code``; ``parameters.retry_after`` is set when given.
        """
        self._failures.setdefault(method.lower(), []).append(
            _Failure(error_code, description, retry_after, times)
        )

    def garble_next(self, method: str, *, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` answer like a proxy's error page: HTTP
        502 with an HTML body, which is not the Bot API's JSON."""
        self._garbled[method.lower()] = self._garbled.get(method.lower(), 0) + times

    def forget_topic(self, chat_id: int, message_thread_id: int) -> None:
        """From now on, sending into that thread answers 400 "message thread not found"."""
        self._topics.pop((chat_id, message_thread_id), None)
        self._gone_topics.add((chat_id, message_thread_id))

    def block(self, user_id: int) -> None:
        """The user blocked the bot: sending to their private chat answers 403."""
        self._blocked.add(user_id)

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """What getChatMember reports: member, administrator, creator, left or kicked."""
        if status not in ("member", "administrator", "creator", "left", "kicked"):
            raise ValueError(f"unsupported chat member status {status!r}")
        self._member_status[(chat_id, user_id)] = status

    # ----------------------------------------------------------------------------------------
    # Update builders

    def message_update(
        self,
        text: str,
        *,
        user_id: int = 1001,
        chat_id: int | None = None,
        language_code: str = "en",
        first_name: str = "Ann",
        username: str | None = "ann",
        chat_type: str = "private",
        message_thread_id: int | None = None,
        entities_for_commands: bool = True,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """A ``message`` update from a user (adds a bot_command entity for "/..." texts).

        ``chat_id`` defaults to ``user_id`` in private chats and to a -100... id otherwise.
        A ``message_thread_id`` registers that forum topic as existing. A
        ``reply_to_message_id`` makes it a reply to that known message of the chat.
        """
        user = self._remember_user(user_id, first_name, username, language_code)
        if chat_id is None:
            chat_id = user_id if chat_type == "private" else -1_001_000_000_000 - user_id
        chat = self._remember_chat(chat_id, chat_type)
        message: dict[str, Any] = {
            "message_id": self._allocate_message_id(chat_id),
            "from": user,
            "chat": chat,
            "date": _now(),
            "text": text,
        }
        self._place_in_thread(message, chat_id, message_thread_id, reply_to_message_id)
        if entities_for_commands and text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
            ]
        self._messages[(chat_id, message["message_id"])] = message
        return self._built({"message": copy.deepcopy(message)})

    def callback_update(
        self,
        data: str,
        *,
        user_id: int = 1001,
        chat_id: int | None = None,
        message_id: int = 1,
        language_code: str = "en",
        message_text: str = "…",
    ) -> dict[str, Any]:
        """A ``callback_query`` update: the user pressed a button with ``data``.

        The message carrying the button is the known message ``(chat_id, message_id)``, or a
        new bot message with ``message_text`` registered under that id (so it can be edited).
        """
        user = self._remember_user(user_id, "Ann", "ann", language_code)
        if chat_id is None:
            chat_id = user_id
        chat = self._chat(chat_id)
        key = (chat_id, message_id)
        if key not in self._messages:
            self._messages[key] = {
                "message_id": message_id,
                "from": self._bot_user(),
                "chat": chat,
                "date": _now(),
                "text": message_text,
            }
            self._last_message_id[chat_id] = max(self._last_message_id.get(chat_id, 0), message_id)
        query_id = str(next(self._callback_ids))
        self._callback_queries[query_id] = False
        return self._built(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user,
                    "message": copy.deepcopy(self._messages[key]),
                    "chat_instance": str(abs(chat_id) * 7919 + 1_234_567),
                    "data": data,
                }
            }
        )

    def media_update(
        self,
        kind: str,
        *,
        user_id: int = 1001,
        language_code: str = "en",
        caption: str | None = None,
        file_name: str | None = None,
        content: bytes | None = None,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Ann",
        username: str | None = "ann",
        message_thread_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """A ``message`` update carrying a photo, sticker, voice, document or video.

        Private by default; ``chat_id``/``chat_type``/``message_thread_id`` put it into a
        group or a forum topic, as in `message_update`. The file is registered (getFile +
        download work); ``content`` defaults to fake bytes.
        """
        if kind not in _FILE_KINDS:
            raise ValueError(f"unsupported media kind {kind!r}; use one of {sorted(_FILE_KINDS)}")
        if kind == "sticker" and caption is not None:
            raise ValueError("stickers have no caption")
        user = self._remember_user(user_id, first_name, username, language_code)
        if chat_id is None:
            chat_id = user_id if chat_type == "private" else -1_001_000_000_000 - user_id
        chat = self._remember_chat(chat_id, chat_type)
        if file_name is None and kind == "document":
            file_name = "document.pdf"
        data = content if content is not None else f"fake {kind} content".encode()
        stored = self._register_file(data, kind, file_name=file_name)
        message: dict[str, Any] = {
            "message_id": self._allocate_message_id(chat_id),
            "from": user,
            "chat": chat,
            "date": _now(),
            kind: self._media_object(stored, kind),
        }
        if caption is not None:
            message["caption"] = caption
        self._place_in_thread(message, chat_id, message_thread_id, reply_to_message_id)
        self._messages[(chat_id, message["message_id"])] = message
        return self._built({"message": copy.deepcopy(message)})

    def edited_message_update(
        self,
        text: str,
        *,
        message_id: int,
        user_id: int = 1001,
        language_code: str = "en",
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Ann",
        username: str | None = "ann",
    ) -> dict[str, Any]:
        """An ``edited_message`` update: the user edited their message ``message_id``.

        In the user's private chat by default, or in ``chat_id`` (a group). A known message
        keeps its topic and its reply; one that carries media gets ``text`` as its new caption.
        """
        user = self._remember_user(user_id, first_name, username, language_code)
        if chat_id is None:
            chat_id = user_id if chat_type == "private" else -1_001_000_000_000 - user_id
        key = (chat_id, message_id)
        stored = self._messages.get(key)
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": user,
            "chat": self._remember_chat(chat_id, chat_type),
            "date": stored["date"] if stored is not None else _now() - 60,
            "edit_date": _now(),
        }
        kept = ("message_thread_id", "is_topic_message", "reply_to_message", *_MEDIA_KEYS)
        if stored is not None:
            message.update({k: copy.deepcopy(stored[k]) for k in kept if k in stored})
        if any(k in message for k in _MEDIA_KEYS):
            message["caption"] = text
        else:
            message["text"] = text
        self._messages[key] = message
        self._last_message_id[chat_id] = max(self._last_message_id.get(chat_id, 0), message_id)
        return self._built({"edited_message": copy.deepcopy(message)})

    # ----------------------------------------------------------------------------------------
    # Webhook delivery

    def hold(self, method: str) -> asyncio.Event:
        """Calls of `method` are recorded on arrival but answered only once the returned
        event is set: a test can stop a bot at a known point of its handling."""
        gate = self._holds[method] = asyncio.Event()
        return gate

    def release_holds(self) -> None:
        for gate in self._holds.values():
            gate.set()
        self._holds.clear()

    async def deliver_webhook(self, update: dict[str, Any], *, url: str | None = None) -> int:
        """POST ``update`` to the webhook like Telegram does; returns the HTTP status.

        Sends ``X-Telegram-Bot-Api-Secret-Token`` when setWebhook had a secret. A 2xx reply
        that carries a method (aiogram's "reply into webhook") is executed and recorded with
        ``source="webhook_reply"``. Non-2xx answers show up in getWebhookInfo's last error.
        """
        if self.webhook is None:
            raise AssertionError("FakeBotAPI.deliver_webhook: no webhook set (call setWebhook)")
        self._assign_update_id(update)
        # `url`: one replica behind the load balancer the webhook URL names.
        url = url or str(self.webhook["url"])
        headers = {"Content-Type": "application/json"}
        if secret := self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(secret)
        if self._client is None:
            self._client = ClientSession(timeout=ClientTimeout(total=10))
        try:
            async with self._client.post(url, data=json.dumps(update), headers=headers) as resp:
                status = resp.status
                if 200 <= status < 300:
                    await self._execute_webhook_reply(resp.headers.get("Content-Type", ""), resp)
                else:
                    self._webhook_error = (
                        _now(),
                        f"Wrong response from the webhook: {status} {resp.reason}",
                    )
        except ClientError as exc:
            self._webhook_error = (_now(), f"Connection failed: {exc}")
            raise AssertionError(f"webhook delivery to {url} failed: {exc!r}") from exc
        return status

    async def _execute_webhook_reply(self, content_type: str, resp: Any) -> None:
        params: dict[str, Any] = {}
        uploads: dict[str, UploadedFile] = {}
        if content_type.startswith("multipart/"):
            fields, uploads = await _read_multipart(MultipartReader(resp.headers, resp.content))
            params = {k: _decode_form_value(k, v) for k, v in fields.items()}
        elif content_type.startswith("application/json"):
            with contextlib.suppress(ValueError):
                body = json.loads(await resp.text())
                if isinstance(body, dict):
                    params = dict(body)
        method = params.pop("method", None)
        if not isinstance(method, str) or not method:
            return
        files = _resolve_uploads(params, uploads)
        canonical = self._handlers.get(method.lower(), (method, None))[0]
        call = ApiCall(canonical, params, time.monotonic(), files, source="webhook_reply")
        self.calls.append(call)
        await self._answer(call, self.token, None)

    # ----------------------------------------------------------------------------------------
    # HTTP handlers

    async def _handle_not_found(self, request: web.Request) -> web.Response:
        return web.json_response(_ApiError(404, "Not Found").payload(), status=404)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(_ApiError(401, "Unauthorized").payload(), status=401)
        path = request.match_info["path"]
        stored = next((f for f in self._files.values() if f.file_path == path), None)
        if stored is None:
            return web.json_response(_ApiError(404, "Not Found").payload(), status=404)
        return web.Response(body=stored.content, content_type=stored.mime_type)

    async def _handle_api(self, request: web.Request) -> web.Response:
        at = time.monotonic()
        raw_method = request.match_info["method"]
        canonical = self._handlers.get(raw_method.lower(), (raw_method, None))[0]
        parse_error: _ApiError | None = None
        params: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        try:
            params, files = await self._read_params(request)
        except _ApiError as exc:
            parse_error = exc
        call = ApiCall(canonical, params, at, files)
        self.calls.append(call)
        self._notify()
        if self._garbled.get(canonical.lower(), 0) > 0:
            self._garbled[canonical.lower()] -= 1
            call.status, call.response = 502, None
            self._notify()
            return web.Response(
                text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                status=502,
                content_type="text/html",
            )
        try:
            if (gate := self._holds.get(canonical)) is not None:
                await gate.wait()
            status, body = await self._answer(call, request.match_info["token"], parse_error)
        except asyncio.CancelledError:
            call.status = 499  # the client went away (e.g. polling stopped mid long poll)
            self._notify()
            raise
        return web.json_response(body, status=status)

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        params: dict[str, Any] = {
            key: _decode_form_value(key, value) for key, value in request.query.items()
        }
        uploads: dict[str, UploadedFile] = {}
        content_type = request.content_type
        if request.can_read_body:
            if content_type == "multipart/form-data":
                fields, uploads = await _read_multipart(await request.multipart())
                params.update({k: _decode_form_value(k, v) for k, v in fields.items()})
            elif content_type == "application/json":
                try:
                    body = json.loads(await request.text())
                except ValueError as exc:
                    raise _bad_request("can't parse JSON encoded request body") from exc
                if not isinstance(body, dict):
                    raise _bad_request("request body must be a JSON object")
                for key, value in body.items():
                    params[key] = (
                        _decode_form_value(key, value) if isinstance(value, str) else value
                    )
            else:  # application/x-www-form-urlencoded (or unlabelled)
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, str):
                        params[key] = _decode_form_value(key, value)
        params = {key: value for key, value in params.items() if value is not None}
        return params, _resolve_uploads(params, uploads)

    async def _answer(
        self, call: ApiCall, token: str, parse_error: _ApiError | None
    ) -> tuple[int, dict[str, Any]]:
        """Run the method for ``call``; store and return (HTTP status, JSON body)."""
        try:
            if token != self.token:
                raise _ApiError(401, "Unauthorized")
            if parse_error is not None:
                raise parse_error
            entry = self._handlers.get(call.method.lower())
            if entry is None:
                raise _ApiError(404, "Not Found")
            self._maybe_fail(call.method)
            result = entry[1](call)
            if isinstance(result, Awaitable):
                result = await result
            if isinstance(result, _Described):
                body = {"ok": True, "result": result.result, "description": result.description}
            else:
                body = {"ok": True, "result": result}
            status = 200
        except _ApiError as exc:
            status, body = exc.error_code, exc.payload()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in the fake: make it loud, but answer like Telegram
            self.internal_errors.append(exc)
            status = 500
            body = _ApiError(500, f"Internal Server Error: fake bug: {exc!r}").payload()
        call.status, call.response = status, body
        self._notify()
        return status, body

    def _maybe_fail(self, method: str) -> None:
        queue = self._failures.get(method.lower())
        if not queue:
            return
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        parameters = {"retry_after": failure.retry_after} if failure.retry_after else None
        raise _ApiError(failure.error_code, failure.description, parameters)

    # ----------------------------------------------------------------------------------------
    # Parameter helpers

    @staticmethod
    def _missing(name: str) -> _ApiError:
        if name == "chat_id":
            return _bad_request("chat_id is empty")
        if name == "text":
            return _bad_request("message text is empty")
        return _bad_request(f'parameter "{name}" is required')

    def _int_param(self, params: dict[str, Any], name: str, *, required: bool = True) -> int:
        value = params.get(name)
        if value is None or value == "":
            if required:
                raise self._missing(name)
            return 0
        if isinstance(value, bool):
            raise _bad_request(f'field "{name}" must be of type Integer')
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return int(value)
        raise _bad_request(f'field "{name}" must be of type Integer')

    def _str_param(self, params: dict[str, Any], name: str) -> str:
        value = params.get(name)
        if value is None or value == "":
            raise self._missing(name)
        return value if isinstance(value, str) else json.dumps(value)

    def _chat_param(self, params: dict[str, Any], name: str = "chat_id") -> int:
        value = params.get(name)
        if value is None or value == "":
            raise self._missing(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            if value.startswith("@"):
                for chat_id, chat in self._chats.items():
                    if str(chat.get("username", "")).lower() == value[1:].lower():
                        return chat_id
            else:
                with contextlib.suppress(ValueError):
                    return int(value)
        raise _bad_request("chat not found")

    def _check_can_send(self, chat_id: int) -> None:
        if chat_id > 0 and chat_id in self._blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        if chat_id == self.bot_id:
            raise _ApiError(403, "Forbidden: bot can't send messages to bots")
        if chat_id in self._left:
            chat_type = self._chat(chat_id)["type"]
            raise _ApiError(403, f"Forbidden: bot is not a member of the {chat_type} chat")

    def _thread_param(self, chat_id: int, params: dict[str, Any]) -> int | None:
        if params.get("message_thread_id") in (None, "", 0):
            return None
        thread = self._int_param(params, "message_thread_id")
        key = (chat_id, thread)
        topic = self._topics.get(key)
        if key in self._gone_topics or (topic is None and chat_id < 0):
            raise _bad_request("message thread not found")
        if topic is not None and topic["is_closed"]:
            raise _bad_request("TOPIC_CLOSED")
        return thread

    def _reply_target(self, chat_id: int, params: dict[str, Any]) -> dict[str, Any] | None:
        reply = params.get("reply_parameters")
        if reply is not None:
            if not isinstance(reply, dict):
                raise _bad_request("can't parse reply parameters JSON object")
            message_id = self._int_param(reply, "message_id")
            source_chat = self._chat_param(reply) if "chat_id" in reply else chat_id
            allow = bool(reply.get("allow_sending_without_reply"))
        elif params.get("reply_to_message_id"):
            message_id = self._int_param(params, "reply_to_message_id")
            source_chat = chat_id
            allow = bool(params.get("allow_sending_without_reply"))
        else:
            return None
        target = self._messages.get((source_chat, message_id))
        if target is None:
            if allow:
                return None
            raise _bad_request("message to be replied not found")
        return {k: copy.deepcopy(v) for k, v in target.items() if k != "reply_to_message"}

    def _formatted(
        self, params: dict[str, Any], text_key: str, entities_key: str
    ) -> tuple[str, list[dict[str, Any]]]:
        text = self._str_param(params, text_key)
        parse_mode = params.get("parse_mode")
        if parse_mode:
            mode = str(parse_mode).lower()
            if mode == "html":
                return parse_telegram_html(text)
            if mode in ("markdown", "markdownv2"):
                return text, []
            raise _bad_request(f"unsupported parse_mode {parse_mode!r}")
        entities = params.get(entities_key)
        if entities is None:
            return text, []
        if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
            raise _bad_request("can't parse entities JSON object")
        return text, copy.deepcopy(entities)

    def _text_content(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("text") in (None, ""):
            raise self._missing("text")
        text, entities = self._formatted(params, "text", "entities")
        if not text.strip():
            raise self._missing("text")
        if len(text) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return content

    def _caption_content(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("caption") in (None, ""):
            return {}
        caption, entities = self._formatted(params, "caption", "caption_entities")
        if len(caption) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        content: dict[str, Any] = {"caption": caption}
        if entities:
            content["caption_entities"] = entities
        return content

    def _reply_markup(self, params: dict[str, Any]) -> dict[str, Any] | None:
        if "reply_markup" not in params:
            return None
        markup = params["reply_markup"]
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            self._check_inline_keyboard(markup["inline_keyboard"])
        elif "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise _bad_request('can\'t parse keyboard: field "keyboard" must be an Array')
        elif not (markup.get("remove_keyboard") or markup.get("force_reply")):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        return markup

    @staticmethod
    def _check_inline_keyboard(rows: Any) -> None:
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad_request("can't parse inline keyboard: inline_keyboard must be an Array")
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise _bad_request("can't parse inline keyboard button: Text must be a String")
                if not any(action in button for action in _INLINE_BUTTON_ACTIONS):
                    raise _bad_request("text buttons are unallowed in the inline keyboard")
                if "callback_data" in button:
                    data = button["callback_data"]
                    if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
                        raise _bad_request("BUTTON_DATA_INVALID")
                if "url" in button and not _BUTTON_URL_RE.fullmatch(str(button["url"])):
                    raise _bad_request("BUTTON_URL_INVALID")

    # ----------------------------------------------------------------------------------------
    # Model helpers

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def _remember_user(
        self, user_id: int, first_name: str, username: str | None, language_code: str
    ) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        return copy.deepcopy(user)

    def _remember_chat(self, chat_id: int, chat_type: str) -> dict[str, Any]:
        if chat_type == "private":
            self._chats.pop(chat_id, None)  # derived from the (possibly updated) user
        elif chat_id not in self._chats or self._chats[chat_id]["type"] != chat_type:
            title = "Test supergroup" if chat_type == "supergroup" else f"Test {chat_type}"
            self._chats[chat_id] = {"id": chat_id, "type": chat_type, "title": title}
        return self._chat(chat_id)

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id in self._chats:
            chat = copy.deepcopy(self._chats[chat_id])
        elif chat_id > 0:
            user = self._users.get(chat_id, {"first_name": "User"})
            chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
            if "username" in user:
                chat["username"] = user["username"]
        else:
            chat = {"id": chat_id, "type": "supergroup", "title": "Test supergroup"}
        if chat["type"] == "supergroup" and any(c == chat_id for c, _ in self._topics):
            chat["is_forum"] = True
        return chat

    def _user(self, user_id: int) -> dict[str, Any]:
        if user_id == self.bot_id:
            return self._bot_user()
        user = self._users.get(user_id)
        if user is not None:
            return copy.deepcopy(user)
        return {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}

    def _place_in_thread(
        self,
        message: dict[str, Any],
        chat_id: int,
        message_thread_id: int | None,
        reply_to_message_id: int | None,
    ) -> None:
        """Put a user's new message into a forum topic and/or make it a reply."""
        if message_thread_id is not None:
            key = (chat_id, message_thread_id)
            if key not in self._gone_topics and key not in self._topics:
                self._topics[key] = self._new_topic(message_thread_id, f"Topic {message_thread_id}")
            message["message_thread_id"] = message_thread_id
            message["is_topic_message"] = True
        if reply_to_message_id is not None:
            target = self._messages.get((chat_id, reply_to_message_id))
            if target is None:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_id} to reply to")
            message["reply_to_message"] = {
                k: copy.deepcopy(v) for k, v in target.items() if k != "reply_to_message"
            }

    def _built(self, update: dict[str, Any]) -> dict[str, Any]:
        """Give a freshly built update its ``update_id`` (so aiogram can parse it as is)."""
        self._assign_update_id(update)
        return update

    def _allocate_message_id(self, chat_id: int) -> int:
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        return message_id

    def _assign_update_id(self, update: dict[str, Any]) -> int:
        if "update_id" not in update:
            update["update_id"] = next(self._update_ids)
        update_id = int(update["update_id"])
        if update_id > self._last_update_id:
            self._last_update_id = update_id
            self._update_ids = itertools.count(update_id + 1)
        return update_id

    def _create_message(
        self,
        chat_id: int,
        content: dict[str, Any],
        *,
        thread: int | None,
        reply_to: dict[str, Any] | None,
        markup: dict[str, Any] | None,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self._allocate_message_id(chat_id),
            "from": self._bot_user(),
            "chat": self._chat(chat_id),
            "date": _now(),
        }
        if thread is not None:
            message["message_thread_id"] = thread
            message["is_topic_message"] = True
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update(copy.deepcopy(content))
        if markup is not None and "inline_keyboard" in markup:
            # Telegram only echoes inline keyboards; reply keyboards are not part of a Message.
            message["reply_markup"] = copy.deepcopy(markup)
        if params.get("protect_content") is True:
            message["has_protected_content"] = True
        self._messages[(chat_id, message["message_id"])] = message
        self.sent.append(copy.deepcopy(message))
        return copy.deepcopy(message)

    def _register_file(
        self,
        content: bytes,
        kind: str,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> _StoredFile:
        prefix, folder, default_ext, default_mime = _FILE_KINDS[kind]
        n = next(self._file_seq)
        ext = PurePosixPath(file_name).suffix if file_name else ""
        file_path = f"{folder}/file_{n}{ext or default_ext}"
        if not mime_type or mime_type == "application/octet-stream":
            guessed = mimetypes.guess_type(file_name)[0] if file_name else None
            mime_type = guessed or default_mime
        stored = _StoredFile(
            file_id=f"{prefix}FAKE{n:010d}",
            file_unique_id=f"AQAD{n:08d}",
            kind=kind,
            content=content,
            file_name=file_name,
            mime_type=mime_type,
            file_path=file_path,
        )
        self._files[stored.file_id] = stored
        return stored

    def _media_object(self, stored: _StoredFile, kind: str) -> Any:
        """The Bot API object for ``stored`` sent as ``kind`` (PhotoSize list, Document...)."""
        base = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
        }
        if kind == "photo":
            thumb = self._register_file(stored.content, "photo", mime_type=stored.mime_type)
            small = {
                "file_id": thumb.file_id,
                "file_unique_id": thumb.file_unique_id,
                "file_size": len(thumb.content),
                "width": 90,
                "height": 68,
            }
            return [small, {**base, "width": 1280, "height": 960}]
        if kind == "sticker":
            return {
                **base,
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": "🙂",
            }
        if kind == "voice":
            return {**base, "duration": 3, "mime_type": stored.mime_type}
        if kind == "video":
            video = {**base, "width": 640, "height": 360, "duration": 5}
            video["mime_type"] = stored.mime_type
            if stored.file_name:
                video["file_name"] = stored.file_name
            return video
        document = {**base, "mime_type": stored.mime_type}
        if stored.file_name:
            document["file_name"] = stored.file_name
        return document

    def _input_file(self, call: ApiCall, name: str, kind: str) -> _StoredFile:
        upload = call.files.get(name)
        if upload is not None:
            if not upload.content:
                raise _bad_request("file must be non-empty")
            return self._register_file(
                upload.content, kind, file_name=upload.filename, mime_type=upload.content_type
            )
        value = call.params.get(name)
        if value is None or value == "":
            raise self._missing(name)
        if isinstance(value, str):
            if value in self._files:
                return self._files[value]
            if value.startswith(("http://", "https://")):
                file_name = PurePosixPath(value.split("?", 1)[0]).name or None
                return self._register_file(b"", kind, file_name=file_name)
        raise _bad_request("wrong file identifier/HTTP URL specified")

    @staticmethod
    def _new_topic(
        thread: int, name: str, icon_color: int = _TOPIC_ICON_COLORS[0]
    ) -> dict[str, Any]:
        return {
            "message_thread_id": thread,
            "name": name,
            "icon_color": icon_color,
            "is_closed": False,
        }

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        scope = scope if isinstance(scope, dict) and scope else {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(language_code or "")

    def _wake_poller(self, *, fresh: bool) -> None:
        if self._poll_waiter is not None and not self._poll_waiter.done():
            self._poll_waiter.set_result(fresh)

    def _message_to_edit(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """The stored bot message addressed by chat_id + message_id (None for inline ones)."""
        if params.get("inline_message_id"):
            return None
        chat_id = self._chat_param(params)
        if params.get("message_id") in (None, ""):
            raise _bad_request("message identifier is not specified")
        message = self._messages.get((chat_id, self._int_param(params, "message_id")))
        if message is None:
            raise _bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise _bad_request("message can't be edited")
        return message

    # ----------------------------------------------------------------------------------------
    # Methods: bot & updates

    def _get_me(self, call: ApiCall) -> dict[str, Any]:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, call: ApiCall) -> list[dict[str, Any]]:
        params = call.params
        if self.webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = self._int_param(params, "offset", required=False)
        limit = min(max(self._int_param(params, "limit", required=False) or 100, 1), 100)
        timeout = max(self._int_param(params, "timeout", required=False), 0)
        if "allowed_updates" in params:
            allowed = params["allowed_updates"]
            if not isinstance(allowed, list):
                raise _bad_request("can't parse allowed_updates JSON array")
            self._allowed_updates = frozenset(str(a) for a in allowed) if allowed else None
        if offset > 0:
            self._updates = [u for u in self._updates if int(u["update_id"]) >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        self._wake_poller(fresh=False)  # a newer getUpdates terminates the older one
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (pending := self._deliverable(limit)) and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            waiter: asyncio.Future[bool] = loop.create_future()
            self._poll_waiter = waiter
            try:
                fresh = await asyncio.wait_for(asyncio.shield(waiter), remaining)
            except TimeoutError:
                fresh = True
            finally:
                if self._poll_waiter is waiter:
                    self._poll_waiter = None
            if not fresh:
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
        return pending

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        allowed = self._allowed_updates
        kept: list[dict[str, Any]] = []
        for update in self._updates:
            kind = _update_type(update)
            ok = kind in allowed if allowed is not None else kind not in _NOT_DEFAULT_UPDATE_TYPES
            (kept if ok else self.dropped_updates).append(update)
        self._updates = kept
        return copy.deepcopy(kept[:limit])

    def _set_webhook(self, call: ApiCall) -> _Described:
        params = call.params
        url = params.get("url")
        if url in (None, ""):  # Telegram: an empty URL removes the webhook
            return self._delete_webhook(call)
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.fullmatch(str(secret)):
            raise _bad_request("secret token contains unallowed characters")
        if params.get("drop_pending_updates") is True:
            self._updates.clear()
        if isinstance(params.get("allowed_updates"), list):
            allowed = params["allowed_updates"]
            self._allowed_updates = frozenset(str(a) for a in allowed) if allowed else None
        self.webhook = {k: v for k, v in params.items() if k != "certificate"}
        self._webhook_error = None
        return _Described(True, "Webhook was set")

    def _delete_webhook(self, call: ApiCall) -> _Described:
        if call.params.get("drop_pending_updates") is True:
            self._updates.clear()
        was_set = self.webhook is not None
        self.webhook = None
        return _Described(True, "Webhook was deleted" if was_set else "Webhook is already deleted")

    def _get_webhook_info(self, call: ApiCall) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": str(self.webhook["url"]) if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook:
            info["max_connections"] = int(self.webhook.get("max_connections", 40))
            info["ip_address"] = "127.0.0.1"
            if self._allowed_updates is not None:
                info["allowed_updates"] = sorted(self._allowed_updates)
            if self._webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    # ----------------------------------------------------------------------------------------
    # Methods: messages

    def _send_message(self, call: ApiCall) -> dict[str, Any]:
        params = call.params
        chat_id = self._chat_param(params)
        self._check_can_send(chat_id)
        thread = self._thread_param(chat_id, params)
        reply_to = self._reply_target(chat_id, params)
        content = self._text_content(params)
        markup = self._reply_markup(params)
        return self._create_message(
            chat_id, content, thread=thread, reply_to=reply_to, markup=markup, params=params
        )

    def _send_media(self, call: ApiCall, kind: str) -> dict[str, Any]:
        params = call.params
        chat_id = self._chat_param(params)
        self._check_can_send(chat_id)
        thread = self._thread_param(chat_id, params)
        reply_to = self._reply_target(chat_id, params)
        stored = self._input_file(call, kind, kind)
        content: dict[str, Any] = {kind: self._media_object(stored, kind)}
        content.update(self._caption_content(params))
        markup = self._reply_markup(params)
        return self._create_message(
            chat_id, content, thread=thread, reply_to=reply_to, markup=markup, params=params
        )

    def _send_document(self, call: ApiCall) -> dict[str, Any]:
        return self._send_media(call, "document")

    def _send_photo(self, call: ApiCall) -> dict[str, Any]:
        return self._send_media(call, "photo")

    def _send_chat_action(self, call: ApiCall) -> bool:
        params = call.params
        chat_id = self._chat_param(params)
        action = self._str_param(params, "action")
        self._check_can_send(chat_id)
        self._thread_param(chat_id, params)
        if action not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    def _source_message(self, params: dict[str, Any], what: str) -> dict[str, Any]:
        from_chat = self._chat_param(params, "from_chat_id")
        message_id = self._int_param(params, "message_id")
        source = self._messages.get((from_chat, message_id))
        if source is None:
            raise _bad_request(f"message to {what} not found")
        return source

    def _copy_message(self, call: ApiCall) -> dict[str, Any]:
        params = call.params
        chat_id = self._chat_param(params)
        source = self._source_message(params, "copy")
        content: dict[str, Any] = {
            key: copy.deepcopy(source[key]) for key in _CONTENT_KEYS if key in source
        }
        if not content:
            raise _bad_request("message can't be copied")
        self._check_can_send(chat_id)
        thread = self._thread_param(chat_id, params)
        reply_to = self._reply_target(chat_id, params)
        if "caption" in params and any(key in content for key in _MEDIA_KEYS):
            content.pop("caption", None)
            content.pop("caption_entities", None)
            content.update(self._caption_content(params))
        markup = self._reply_markup(params)
        message = self._create_message(
            chat_id, content, thread=thread, reply_to=reply_to, markup=markup, params=params
        )
        return {"message_id": message["message_id"]}

    def _forward_message(self, call: ApiCall) -> dict[str, Any]:
        params = call.params
        chat_id = self._chat_param(params)
        source = self._source_message(params, "forward")
        content: dict[str, Any] = {
            key: copy.deepcopy(source[key]) for key in _CONTENT_KEYS if key in source
        }
        if not content:
            raise _bad_request("message can't be forwarded")
        self._check_can_send(chat_id)
        thread = self._thread_param(chat_id, params)
        if "forward_origin" in source:
            content["forward_origin"] = copy.deepcopy(source["forward_origin"])
        elif "from" in source:
            content["forward_origin"] = {
                "type": "user",
                "sender_user": copy.deepcopy(source["from"]),
                "date": source["date"],
            }
        else:
            content["forward_origin"] = {
                "type": "chat",
                "sender_chat": copy.deepcopy(source["chat"]),
                "date": source["date"],
            }
        return self._create_message(
            chat_id, content, thread=thread, reply_to=None, markup=None, params=params
        )

    def _edit_message_text(self, call: ApiCall) -> dict[str, Any] | bool:
        return self._edit_content(
            call,
            self._text_content,
            ("text", "entities"),
            lambda message: "text" in message,
            "there is no text in the message to edit",
        )

    def _edit_message_caption(self, call: ApiCall) -> dict[str, Any] | bool:
        return self._edit_content(
            call,
            self._caption_content,
            ("caption", "caption_entities"),
            lambda message: any(key in message for key in _MEDIA_KEYS),
            "there is no caption in the message to edit",
        )

    def _edit_content(
        self,
        call: ApiCall,
        read: Callable[[dict[str, Any]], dict[str, Any]],
        keys: tuple[str, str],
        editable: Callable[[dict[str, Any]], bool],
        not_editable: str,
    ) -> dict[str, Any] | bool:
        """editMessageText/editMessageCaption: replace the ``keys`` (text or caption, and
        their entities) of a bot message with what ``read`` finds in the parameters."""
        params = call.params
        message = self._message_to_edit(params)
        content = read(params)
        markup = self._reply_markup(params)
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad_request("inline keyboard expected")
        if message is None:
            return True
        if not editable(message):
            raise _bad_request(not_editable)
        value, entities = keys
        unchanged = (
            message.get(value) == content.get(value)
            and message.get(entities, []) == content.get(entities, [])
            and message.get("reply_markup") == markup
        )
        if unchanged:
            raise _bad_request(NOT_MODIFIED)
        for key in keys:
            message.pop(key, None)
        message.update(content)
        self._set_markup(message, markup)
        return copy.deepcopy(message)

    def _edit_message_reply_markup(self, call: ApiCall) -> dict[str, Any] | bool:
        params = call.params
        message = self._message_to_edit(params)
        markup = self._reply_markup(params)
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad_request("inline keyboard expected")
        if message is None:
            return True
        if message.get("reply_markup") == markup:
            raise _bad_request(NOT_MODIFIED)
        self._set_markup(message, markup)
        return copy.deepcopy(message)

    @staticmethod
    def _set_markup(message: dict[str, Any], markup: dict[str, Any] | None) -> None:
        # Editing without reply_markup removes the inline keyboard, as in Telegram.
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = copy.deepcopy(markup)
        message["edit_date"] = _now()

    def _delete_message(self, call: ApiCall) -> bool:
        chat_id = self._chat_param(call.params)
        message_id = self._int_param(call.params, "message_id")
        if self._messages.pop((chat_id, message_id), None) is None:
            raise _bad_request("message to delete not found")
        return True

    def _answer_callback_query(self, call: ApiCall) -> bool:
        params = call.params
        query_id = params.get("callback_query_id")
        if query_id in (None, ""):
            raise self._missing("callback_query_id")
        query_id = str(query_id)
        if self._callback_queries.get(query_id, True):  # unknown or already answered
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        if len(str(params.get("text", ""))) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad_request("MESSAGE_TOO_LONG")
        self._callback_queries[query_id] = True
        return True

    # ----------------------------------------------------------------------------------------
    # Methods: forum topics

    def _forum_chat(self, params: dict[str, Any]) -> int:
        chat_id = self._chat_param(params)
        if chat_id > 0 or self._chat(chat_id)["type"] != "supergroup":
            raise _bad_request("the chat is not a forum")
        if chat_id in self._left:
            raise _ApiError(403, "Forbidden: bot is not a member of the supergroup chat")
        return chat_id

    def _existing_topic(self, params: dict[str, Any]) -> tuple[int, int, dict[str, Any]]:
        chat_id = self._forum_chat(params)
        thread = self._int_param(params, "message_thread_id")
        topic = self._topics.get((chat_id, thread))
        if topic is None or (chat_id, thread) in self._gone_topics:
            raise _bad_request("message thread not found")
        return chat_id, thread, topic

    def _create_forum_topic(self, call: ApiCall) -> dict[str, Any]:
        params = call.params
        chat_id = self._forum_chat(params)
        name = self._str_param(params, "name")
        if len(name) > 128:
            raise _bad_request("TOPIC_TITLE_INVALID")
        icon_color = self._int_param(params, "icon_color", required=False) or _TOPIC_ICON_COLORS[0]
        if icon_color not in _TOPIC_ICON_COLORS:
            raise _bad_request("TOPIC_ICON_COLOR_INVALID")
        # As in Telegram, the thread id is the id of the "forum topic created" service message.
        thread = self._allocate_message_id(chat_id)
        topic = self._new_topic(thread, name, icon_color)
        if params.get("icon_custom_emoji_id"):
            topic["icon_custom_emoji_id"] = str(params["icon_custom_emoji_id"])
        self._topics[(chat_id, thread)] = topic
        self._gone_topics.discard((chat_id, thread))
        self._messages[(chat_id, thread)] = {
            "message_id": thread,
            "from": self._bot_user(),
            "chat": self._chat(chat_id),
            "date": _now(),
            "message_thread_id": thread,
            "is_topic_message": True,
            "forum_topic_created": {"name": name, "icon_color": icon_color},
        }
        return {k: v for k, v in topic.items() if k != "is_closed"}

    def _edit_forum_topic(self, call: ApiCall) -> bool:
        params = call.params
        _, _, topic = self._existing_topic(params)
        changes: dict[str, Any] = {
            key: params[key]
            for key in ("name", "icon_custom_emoji_id")
            if key in params and topic.get(key) != params[key]
        }
        if not changes:
            raise _bad_request("TOPIC_NOT_MODIFIED")
        topic.update(changes)
        return True

    def _close_forum_topic(self, call: ApiCall) -> bool:
        return self._set_topic_closed(call, closed=True)

    def _reopen_forum_topic(self, call: ApiCall) -> bool:
        return self._set_topic_closed(call, closed=False)

    def _set_topic_closed(self, call: ApiCall, *, closed: bool) -> bool:
        _, _, topic = self._existing_topic(call.params)
        if topic["is_closed"] == closed:
            raise _bad_request("TOPIC_NOT_MODIFIED")
        topic["is_closed"] = closed
        return True

    def _delete_forum_topic(self, call: ApiCall) -> bool:
        chat_id, thread, _ = self._existing_topic(call.params)
        self.forget_topic(chat_id, thread)
        for key in [k for k, m in self._messages.items() if k[0] == chat_id]:
            if self._messages[key].get("message_thread_id") == thread:
                del self._messages[key]
        return True

    # ----------------------------------------------------------------------------------------
    # Methods: files, commands, chats

    def _get_file(self, call: ApiCall) -> dict[str, Any]:
        file_id = self._str_param(call.params, "file_id")
        stored = self._files.get(file_id)
        if stored is None:
            raise _bad_request("invalid file_id")
        if len(stored.content) > MAX_DOWNLOAD_SIZE:
            raise _bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }

    def _set_my_commands(self, call: ApiCall) -> bool:
        params = call.params
        commands = params.get("commands")
        if commands is None:
            raise self._missing("commands")
        if not isinstance(commands, list) or not all(isinstance(c, dict) for c in commands):
            raise _bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad_request("too many commands specified")
        for command in commands:
            if not _COMMAND_RE.fullmatch(str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("command description must be 1-256 characters long")
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = copy.deepcopy(commands)
        return True

    def _delete_my_commands(self, call: ApiCall) -> bool:
        key = self._commands_key(call.params.get("scope"), call.params.get("language_code"))
        self._commands.pop(key, None)
        return True

    def _get_my_commands(self, call: ApiCall) -> list[dict[str, Any]]:
        key = self._commands_key(call.params.get("scope"), call.params.get("language_code"))
        return copy.deepcopy(self._commands.get(key, []))

    def _get_chat(self, call: ApiCall) -> dict[str, Any]:
        chat = self._chat(self._chat_param(call.params))
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _get_chat_member(self, call: ApiCall) -> dict[str, Any]:
        chat_id = self._chat_param(call.params)
        user_id = self._int_param(call.params, "user_id")
        user = self._user(user_id)
        status = self._member_status.get((chat_id, user_id))
        if status is None:
            if user_id == self.bot_id and chat_id in self._left:
                status = "left"
            elif user_id == self.bot_id and chat_id < 0:
                status = "administrator"
            else:
                status = "member"
        if status == "administrator":
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
                "can_send_welcome_messages": False,
                "can_pin_messages": True,
                "can_manage_topics": True,
            }
        if status == "creator":
            return {"status": "creator", "user": user, "is_anonymous": False}
        if status == "kicked":
            return {"status": "kicked", "user": user, "until_date": 0}
        return {"status": status, "user": user}

    def _leave_chat(self, call: ApiCall) -> bool:
        chat_id = self._chat_param(call.params)
        if chat_id > 0:
            raise _bad_request("chat member status can't be changed in private chats")
        self._left.add(chat_id)
        return True


def _update_type(update: dict[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "unknown")
