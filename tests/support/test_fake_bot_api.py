"""Tests of the fake Telegram Bot API server, driven through a real aiogram Bot over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import ClientResponseError, ClientSession, web

from tests.support.fake_bot_api import FakeBotAPI, parse_telegram_html

USER = 1001
GROUP = -1001234567890


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI()
    await api.start()
    try:
        yield api
    finally:
        await api.close()
    assert not api.internal_errors, api.internal_errors


@pytest.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
    bot = Bot(fake.token, session=session)
    try:
        yield bot
    finally:
        await bot.session.close()


def echo_dispatcher() -> Dispatcher:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    return dp


@contextlib.asynccontextmanager
async def webhook_app(
    dp: Dispatcher, bot: Bot, *, handle_in_background: bool = True
) -> AsyncIterator[str]:
    """Serve aiogram's SimpleRequestHandler on 127.0.0.1:0; yields the webhook URL."""
    app = web.Application()
    SimpleRequestHandler(
        dp, bot, secret_token="s3cret", handle_in_background=handle_in_background
    ).register(app, path="/webhook")
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}/webhook"
    finally:
        await runner.cleanup()


async def raw_post(fake: FakeBotAPI, method: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    async with (
        ClientSession() as session,
        session.post(f"{fake.base_url}/bot{fake.token}/{method}", **kwargs) as resp,
    ):
        return resp.status, await resp.json()


# ------------------------------------------------------------------------------------------------
# Basics


async def test_get_me(fake: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 42
    assert me.is_bot
    assert me.username == "privacy_help_bot"
    assert fake.base_url.startswith("http://127.0.0.1:")
    [call] = fake.calls_to("getMe")
    assert call.status == 200
    assert call.ok


async def test_wrong_token_and_unknown_method(fake: FakeBotAPI) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
    intruder = Bot("43:WRONG", session=session)
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await intruder.get_me()
    finally:
        await session.close()
    status, body = await raw_post(fake, "sendCarrierPigeon")
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert [c.status for c in fake.calls] == [401, 404]


async def test_send_message_records_parsed_inline_keyboard(fake: FakeBotAPI, bot: Bot) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="Delete my data", callback_data="erase:1")],
            [InlineKeyboardButton(text="Policy", url="https://shop.example/privacy")],
        ]
    )
    sent = await bot.send_message(USER, "What do you want to do?", reply_markup=markup)

    assert sent.message_id == 1
    assert sent.chat.type == "private"
    assert sent.from_user is not None and sent.from_user.is_bot
    assert sent.reply_markup is not None  # echoed back, parsed by aiogram
    assert sent.reply_markup.model_dump() == markup.model_dump()
    [call] = await fake.wait_for("sendMessage")
    assert call.params["chat_id"] == USER  # JSON-decoded from the form field
    assert call.params["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Delete my data", "callback_data": "erase:1"}],
            [{"text": "Policy", "url": "https://shop.example/privacy"}],
        ]
    }
    assert fake.sent[0]["text"] == "What do you want to do?"
    second = await bot.send_message(USER, "again")
    assert second.message_id == 2  # ids increase per chat
    assert (await bot.send_message(GROUP, "hi")).chat.type == "supergroup"


async def test_inline_keyboard_validation(bot: Bot) -> None:
    too_long = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="d" * 65)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "hi", reply_markup=too_long)
    no_action = {"inline_keyboard": [[{"text": "just text"}]]}
    with pytest.raises(TelegramBadRequest, match="text buttons are unallowed"):
        await bot.send_message(USER, "hi", reply_markup=no_action)  # type: ignore[arg-type]


async def test_html_parse_errors_surface_as_bad_request(fake: FakeBotAPI, bot: Bot) -> None:
    cases = {
        "<b>bold": 'Can\'t find end tag corresponding to start tag "b"',
        "line<br>break": 'Unsupported start tag "br" at byte offset 4',
        "a < b": 'Unsupported start tag "" at byte offset 2',
        "<b>x</i>": 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"',
        "x</b>": "Unexpected end tag at byte offset 1",
        "<span>x</span>": 'Tag "span" must have class "tg-spoiler"',
        "<div>x</div>": 'Unsupported start tag "div"',
    }
    for text, reason in cases.items():
        with pytest.raises(TelegramBadRequest) as excinfo:
            await bot.send_message(USER, text, parse_mode="HTML")
        assert "Bad Request: can't parse entities: " + reason in str(excinfo.value), text
    assert fake.sent == []

    ok = await bot.send_message(
        USER,
        '<b>Bold</b> &amp; <a href="https://x.example">link</a> <tg-spoiler>s</tg-spoiler> a&b',
        parse_mode="HTML",
    )
    assert ok.text == "Bold & link s a&b"
    assert [(e.type, e.offset, e.length) for e in ok.entities or []] == [
        ("bold", 0, 4),
        ("text_link", 7, 4),
        ("spoiler", 12, 1),
    ]


def test_html_parser_details() -> None:
    text, entities = parse_telegram_html(
        '<pre><code class="language-python">print(1)</code></pre>'
        "<blockquote expandable>q</blockquote>😀<i>é</i>"
    )
    assert text == "print(1)q😀é"
    assert entities == [
        {"type": "pre", "offset": 0, "length": 8, "language": "python"},
        {"type": "expandable_blockquote", "offset": 8, "length": 1},
        {"type": "italic", "offset": 11, "length": 1},  # the emoji is 2 UTF-16 units
    ]
    assert parse_telegram_html("<b>x</>") == ("x", [{"type": "bold", "offset": 0, "length": 1}])


async def test_message_length_limit_counts_after_entity_parsing(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "x" * 4097)
    # 4096 visible characters wrapped in tags: longer raw, but fine after parsing.
    sent = await bot.send_message(USER, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    assert sent.text is not None and len(sent.text) == 4096
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER, "<b></b>", parse_mode="HTML")


async def test_fail_next_429_surfaces_as_retry_after(fake: FakeBotAPI, bot: Bot) -> None:
    fake.fail_next("sendMessage", times=2)
    for _ in range(2):
        with pytest.raises(TelegramRetryAfter) as excinfo:
            await bot.send_message(USER, "hi")
        assert excinfo.value.retry_after == 1
    await bot.send_message(USER, "hi")
    assert [c.status for c in fake.calls_to("sendMessage")] == [429, 429, 200]
    assert fake.calls_to("sendMessage")[0].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }
    fake.fail_next("sendMessage", error_code=403, description="Forbidden: x", retry_after=None)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(USER, "hi")


async def test_required_parameters_are_validated(fake: FakeBotAPI) -> None:
    status, body = await raw_post(fake, "sendMessage", data={"text": "hi"})
    assert (status, body["description"]) == (400, "Bad Request: chat_id is empty")
    status, body = await raw_post(fake, "sendMessage", data={"chat_id": "1"})
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")
    status, body = await raw_post(fake, "getFile")
    assert (status, body["description"]) == (400, 'Bad Request: parameter "file_id" is required')


async def test_accepts_json_urlencoded_and_query_string(fake: FakeBotAPI) -> None:
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    status, body = await raw_post(
        fake, "sendMessage", json={"chat_id": USER, "text": "123", "reply_markup": markup}
    )
    assert status == 200
    assert body["result"]["text"] == "123"  # text fields are never JSON-decoded
    assert body["result"]["reply_markup"] == markup
    status, _ = await raw_post(
        fake, "sendMessage", data={"chat_id": str(USER), "text": "t", "reply_markup": "bad"}
    )
    assert status == 400
    async with (
        ClientSession() as session,
        session.get(f"{fake.base_url}/bot{fake.token}/sendMessage?chat_id=7&text=q") as resp,
    ):
        assert resp.status == 200
    assert [c.params for c in fake.calls_to("sendMessage")][-1] == {"chat_id": 7, "text": "q"}
    # Method names are case-insensitive; calls are recorded under the canonical name.
    status, _ = await raw_post(fake, "SENDMESSAGE", data={"chat_id": "7", "text": "q"})
    assert status == 200
    assert len(fake.calls_to("sendmessage")) == 4


# ------------------------------------------------------------------------------------------------
# Forum topics, files, edits, callbacks


async def test_forum_topic_flow(fake: FakeBotAPI, bot: Bot) -> None:
    topic = await bot.create_forum_topic(GROUP, "Privacy request #7")
    assert topic.name == "Privacy request #7"
    assert topic.icon_color == 7322096
    thread = topic.message_thread_id

    sent = await bot.send_message(GROUP, "in the topic", message_thread_id=thread)
    assert sent.message_thread_id == thread
    assert sent.is_topic_message
    assert sent.chat.is_forum
    assert await bot.edit_forum_topic(GROUP, thread, name="Closed #7")
    assert fake.topic(GROUP, thread) is not None
    assert await bot.close_forum_topic(GROUP, thread)
    with pytest.raises(TelegramBadRequest, match="TOPIC_CLOSED"):
        await bot.send_message(GROUP, "late", message_thread_id=thread)
    assert await bot.reopen_forum_topic(GROUP, thread)

    fake.forget_topic(GROUP, thread)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(GROUP, "gone?", message_thread_id=thread)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(GROUP, "never existed", message_thread_id=999)

    other = await bot.create_forum_topic(GROUP, "Other")
    assert other.message_thread_id > thread
    assert await bot.delete_forum_topic(GROUP, other.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_chat_action(GROUP, "typing", message_thread_id=other.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="not a forum"):
        await bot.create_forum_topic(USER, "private chats have no topics")


async def test_get_file_and_download(fake: FakeBotAPI, bot: Bot) -> None:
    file_id = fake.add_file(b"%PDF-1.7 privacy policy", "policy.pdf")
    file = await bot.get_file(file_id)
    assert file.file_path is not None and file.file_path.endswith(".pdf")
    assert file.file_size == 23
    data = await bot.download_file(file.file_path)
    assert data is not None and data.read() == b"%PDF-1.7 privacy policy"
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_send_photo_and_document_upload_or_file_id(fake: FakeBotAPI, bot: Bot) -> None:
    photo = await bot.send_photo(
        USER, BufferedInputFile(b"\xff\xd8jpeg", "cat.jpg"), caption="<i>cat</i>", parse_mode="HTML"
    )
    assert photo.photo is not None and len(photo.photo) == 2
    assert photo.caption == "cat"
    [call] = fake.calls_to("sendPhoto")
    assert call.params["photo"].startswith("attach://")  # aiogram's encoding of uploads
    assert call.files["photo"].content == b"\xff\xd8jpeg"
    assert call.files["photo"].filename == "cat.jpg"

    again = await bot.send_photo(USER, photo.photo[-1].file_id)
    assert again.photo is not None

    doc = await bot.send_document(USER, BufferedInputFile(b"a,b\n1,2\n", "export.csv"))
    assert doc.document is not None
    assert doc.document.file_name == "export.csv"
    assert doc.document.mime_type == "text/csv"
    downloaded = await bot.download(doc.document.file_id)
    assert downloaded is not None and downloaded.read() == b"a,b\n1,2\n"

    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_document(USER, "unknown-file-id")
    with pytest.raises(TelegramBadRequest, match="file must be non-empty"):
        await bot.send_document(USER, BufferedInputFile(b"", "empty.txt"))
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_document(USER, doc.document.file_id, caption="c" * 1025)
    assert len(fake.sent) == 3


async def test_edit_and_callback_flow(fake: FakeBotAPI, bot: Bot) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Yes", callback_data="yes")]]
    )
    sent = await bot.send_message(USER, "Erase?", reply_markup=markup)
    update = Update.model_validate(
        fake.callback_update("yes", message_id=sent.message_id), context={"bot": bot}
    )
    query = update.callback_query
    assert isinstance(query, CallbackQuery)
    assert query.message is not None and query.message.message_id == sent.message_id
    assert await query.answer("Done")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await query.answer("twice")

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "Erase?", chat_id=USER, message_id=sent.message_id, reply_markup=markup
        )
    edited = await bot.edit_message_text("Erased.", chat_id=USER, message_id=sent.message_id)
    assert isinstance(edited, Message)
    assert edited.text == "Erased."
    assert edited.reply_markup is None  # editing without reply_markup drops the keyboard
    assert edited.edit_date is not None
    current = fake.message(USER, sent.message_id)
    assert current is not None and current["text"] == "Erased."
    assert fake.sent[0]["text"] == "Erase?"  # `sent` keeps the message as created

    again = await bot.edit_message_reply_markup(
        chat_id=USER, message_id=sent.message_id, reply_markup=markup
    )
    assert isinstance(again, Message) and again.reply_markup is not None
    assert again.reply_markup.model_dump() == markup.model_dump()
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=999)

    # A callback on a message the fake never saw: it is registered so it can be edited.
    update2 = fake.callback_update("no", message_id=50, message_text="Old menu")
    assert update2["callback_query"]["message"]["text"] == "Old menu"
    assert await bot.edit_message_text("New menu", chat_id=USER, message_id=50)
    assert (await bot.send_message(USER, "next")).message_id == 51


async def test_copy_forward_reply_and_delete(fake: FakeBotAPI, bot: Bot) -> None:
    incoming = fake.message_update("my order is 1234")["message"]
    copied = await bot.copy_message(GROUP, USER, incoming["message_id"])
    assert copied.message_id == 1
    assert fake.sent[-1]["text"] == "my order is 1234"
    forwarded = await bot.forward_message(GROUP, USER, incoming["message_id"])
    assert forwarded.forward_origin is not None
    assert forwarded.forward_origin.type == "user"
    reply = await bot.send_message(
        USER, "got it", reply_parameters=ReplyParameters(message_id=incoming["message_id"])
    )
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "my order is 1234"
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(USER, "x", reply_parameters=ReplyParameters(message_id=777))
    with pytest.raises(TelegramBadRequest, match="message to copy not found"):
        await bot.copy_message(GROUP, USER, 777)
    assert await bot.delete_message(USER, reply.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(USER, reply.message_id)


async def test_chats_members_commands_and_403s(fake: FakeBotAPI, bot: Bot) -> None:
    fake.message_update("hello", first_name="Bea", username="bea", language_code="de")
    chat = await bot.get_chat(USER)
    assert (chat.type, chat.first_name, chat.username) == ("private", "Bea", "bea")
    member = await bot.get_chat_member(GROUP, USER)
    assert isinstance(member, ChatMemberMember)
    assert member.user.language_code == "de"
    me = await bot.get_chat_member(GROUP, fake.bot_id)
    assert isinstance(me, ChatMemberAdministrator)
    group = await bot.get_chat(GROUP)
    assert (group.type, group.title) == ("supergroup", "Test supergroup")

    commands = [
        BotCommand(command="start", description="Start"),
        BotCommand(command="help", description="Hilfe"),
    ]
    scope = BotCommandScopeAllPrivateChats()
    assert await bot.set_my_commands(commands, scope=scope, language_code="de")
    assert [c["command"] for c in fake.my_commands({"type": "all_private_chats"}, "de")] == [
        "start",
        "help",
    ]
    got = await bot.get_my_commands(scope=scope, language_code="de")
    assert [c.model_dump() for c in got] == [c.model_dump() for c in commands]
    assert await bot.delete_my_commands(scope=scope, language_code="de")
    assert fake.my_commands({"type": "all_private_chats"}, "de") == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])

    assert await bot.send_chat_action(USER, "typing")
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await bot.send_chat_action(USER, "dancing")
    assert await bot.leave_chat(GROUP)
    with pytest.raises(TelegramForbiddenError, match="not a member of the supergroup"):
        await bot.send_message(GROUP, "still here?")
    fake.block(USER)
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(USER, "hi")


async def test_update_builders_parse_as_aiogram_updates(fake: FakeBotAPI, bot: Bot) -> None:
    builders: list[dict[str, Any]] = [
        fake.message_update("/start@privacy_help_bot payload"),
        fake.message_update("hi", chat_type="supergroup", message_thread_id=5, user_id=7),
        fake.callback_update("menu:1"),
        fake.edited_message_update("fixed", message_id=1),
        *(fake.media_update(kind, caption=None) for kind in ("photo", "sticker", "voice")),
        fake.media_update("document", caption="my data export", file_name="export.zip"),
        fake.media_update("video", caption="screen recording"),
    ]
    for raw in builders:
        fake.push_update(raw)
        update = Update.model_validate(raw, context={"bot": bot})
        assert update.update_id == raw["update_id"]
        assert update.event_type in ("message", "callback_query", "edited_message")
    first = builders[0]["message"]
    assert first["from"]["language_code"] == "en"
    assert first["entities"] == [{"type": "bot_command", "offset": 0, "length": 23}]
    group = builders[1]["message"]
    assert group["chat"]["type"] == "supergroup"
    assert group["is_topic_message"] is True
    # The topic from the update exists, so the bot can answer into it.
    assert await bot.send_message(group["chat"]["id"], "ok", message_thread_id=5)
    document = builders[-2]["message"]["document"]
    file = await bot.get_file(document["file_id"])
    assert file.file_path is not None
    data = await bot.download_file(file.file_path)
    assert data is not None and data.read() == b"fake document content"
    ids = [raw["update_id"] for raw in builders]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


# ------------------------------------------------------------------------------------------------
# getUpdates & polling


async def test_get_updates_offset_limit_and_long_poll(fake: FakeBotAPI, bot: Bot) -> None:
    first = fake.push_update(fake.message_update("one"))
    second = fake.push_update(fake.message_update("two"))
    assert [u.update_id for u in await bot.get_updates(limit=1)] == [first]
    assert [u.update_id for u in await bot.get_updates()] == [first, second]  # unconfirmed
    assert [u.update_id for u in await bot.get_updates(offset=second)] == [second]
    assert await bot.get_updates(offset=second + 1) == []

    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await bot.get_updates(offset=second + 1, timeout=1) == []
    assert 0.9 <= loop.time() - started < 3

    async def push_later() -> None:
        await asyncio.sleep(0.2)
        fake.push_update(fake.message_update("three"))

    pusher = asyncio.create_task(push_later())
    started = loop.time()
    updates = await bot.get_updates(offset=second + 1, timeout=10)
    await pusher
    assert loop.time() - started < 2
    assert [u.message.text for u in updates if u.message] == ["three"]

    # allowed_updates is remembered; other update types are dropped like Telegram does.
    fake.push_update(fake.callback_update("x"))
    assert await bot.get_updates(offset=updates[0].update_id + 1, allowed_updates=["message"]) == []
    assert [u["callback_query"]["data"] for u in fake.dropped_updates] == ["x"]


async def test_get_updates_conflicts(fake: FakeBotAPI, bot: Bot) -> None:
    older = asyncio.create_task(bot.get_updates(timeout=5))
    await fake.wait_for("getUpdates")
    assert await bot.get_updates() == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await older
    assert await bot.set_webhook("http://127.0.0.1:9/hook")
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook()
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count) == ("", 0)


async def test_polling_dispatcher_answers_pushed_update(fake: FakeBotAPI, bot: Bot) -> None:
    dp = echo_dispatcher()
    polling = asyncio.create_task(dp.start_polling(bot, polling_timeout=1, handle_signals=False))
    try:
        update_id = fake.push_update(fake.message_update("hello there"))
        [call] = await fake.wait_for("sendMessage")
        assert call.params == {"chat_id": USER, "text": "echo: hello there"}
        assert fake.sent[-1]["chat"]["id"] == USER
        # Polling asked only for the update types the dispatcher handles.
        assert fake.calls_to("getUpdates")[0].params["allowed_updates"] == ["message"]
        # aiogram confirms the update with the next getUpdates(offset=update_id + 1).
        await fake.wait_for(
            "getUpdates", predicate=lambda c: c.params.get("offset") == update_id + 1
        )
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, 5)
    assert fake.calls_to("getMe")  # start_polling asks who it is first


async def test_wait_for_timeout_lists_received_calls(fake: FakeBotAPI, bot: Bot) -> None:
    await bot.get_me()
    with pytest.raises(TelegramBadRequest):
        await bot.send_message(USER, "<b>", parse_mode="HTML")
    with pytest.raises(AssertionError) as excinfo:
        await fake.wait_for("sendMessage", timeout=0.2, predicate=lambda c: c.ok)
    report = str(excinfo.value)
    assert "waiting for 1 call(s) to sendMessage matching the predicate" in report
    assert "getMe, sendMessage [400]" in report
    assert "can't parse entities" in report


# ------------------------------------------------------------------------------------------------
# Webhooks


async def test_webhook_delivery_and_secret(fake: FakeBotAPI, bot: Bot) -> None:
    dp = echo_dispatcher()
    async with webhook_app(dp, bot) as url:
        assert await bot.set_webhook(url, secret_token="s3cret")
        assert fake.webhook is not None
        assert fake.webhook["url"] == url
        assert fake.webhook["secret_token"] == "s3cret"

        assert await fake.deliver_webhook(fake.message_update("via webhook")) == 200
        [call] = await fake.wait_for("sendMessage")
        assert call.params["text"] == "echo: via webhook"

        assert await bot.set_webhook(url, secret_token="wrong")
        assert await fake.deliver_webhook(fake.message_update("sneaky")) == 401
        info = await bot.get_webhook_info()
        assert info.url == url
        assert info.last_error_message == "Wrong response from the webhook: 401 Unauthorized"
        assert len(fake.calls_to("sendMessage")) == 1

        assert await bot.delete_webhook()
        assert fake.webhook is None
        with pytest.raises(AssertionError, match="no webhook set"):
            await fake.deliver_webhook(fake.message_update("nowhere"))


async def test_webhook_reply_in_response_is_executed(fake: FakeBotAPI, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message()
    async def reply_in_webhook(message: Message) -> SendMessage:
        return message.answer(f"inline reply to {message.text}")

    async with webhook_app(dp, bot, handle_in_background=False) as url:
        await bot.set_webhook(url, secret_token="s3cret")
        assert await fake.deliver_webhook(fake.message_update("ping")) == 200
    [call] = fake.calls_to("sendMessage")
    assert call.source == "webhook_reply"
    assert call.params["text"] == "inline reply to ping"
    assert call.ok
    assert fake.sent[-1]["text"] == "inline reply to ping"


async def test_bad_webhook_parameters(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="secret token contains unallowed"):
        await bot.set_webhook("https://bot.example/hook", secret_token="no spaces!")


async def test_default_parse_mode_and_not_found(fake: FakeBotAPI) -> None:
    bot = fake.make_bot(default=DefaultBotProperties(parse_mode="HTML"))
    try:
        sent = await bot.send_message(USER, "<b>x</b>")
        assert sent.text == "x"
        assert fake.calls_to("sendMessage")[0].params["parse_mode"] == "HTML"
        async with ClientSession() as session, session.get(f"{fake.base_url}/nowhere") as resp:
            assert resp.status == 404
            assert json.loads(await resp.text())["description"] == "Not Found"
        with pytest.raises(ClientResponseError) as excinfo:
            await bot.download_file("documents/missing.bin")
        assert excinfo.value.status == 404
    finally:
        await bot.session.close()
