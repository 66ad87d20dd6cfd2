"""The web chat below the browser: the page, the socket's frames, a conversation from
question to quoted answer, reconnects and tabs, /forget, and every refusal (origin, sizes,
floods) with its message. The app runs as `python -m bot --web` runs it."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from bot.web.settings import WebChatSettings
from bot.web.visitors import COOKIE_NAME, is_web_chat
from tests.conftest import KNOWLEDGE
from tests.support.web_visitor import WebVisitor
from tests.web.conftest import WebChat, web_chat_running

# One app for the tests that need nothing special; each test is a new visitor.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def web_chat(
    tmp_path_factory: pytest.TempPathFactory, corpus_index: Path
) -> AsyncIterator[WebChat]:
    tmp = tmp_path_factory.mktemp("web-chat")
    async with web_chat_running(tmp, corpus_index, throttle_messages=1000) as chat:
        yield chat


@pytest_asyncio.fixture(loop_scope="module")
async def visitor(web_chat: WebChat) -> AsyncIterator[WebVisitor]:
    person = WebVisitor(web_chat.base_url, "webstore")
    await person.open_page()
    await person.connect()
    try:
        yield person
    finally:
        await person.close()


async def welcomed(person: WebVisitor) -> dict:
    await person.wait(person.ready.is_set)
    return await person.next_bot_message(0)


async def test_the_page_is_strict_about_where_it_runs_and_keeps_no_secret(
    web_chat: WebChat,
) -> None:
    person = WebVisitor(web_chat.base_url, "kivismart", language="")
    try:
        response = await person.open_page()
        assert response.status == 200
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "frame-ancestors 'self'" in policy
        assert "unsafe-inline" not in policy
        cookie = response.cookies[COOKIE_NAME]
        assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Lax"
        async with person.session.get(f"{web_chat.base_url}/chat/kivismart") as again:
            body = await again.text()
            assert COOKIE_NAME not in again.cookies  # the visitor is known now: no new cookie
        # The shop's default language (Czech) with no lang and no Accept-Language.
        assert '<html lang="cs">' in body and 'name="message"' in body
        assert PSEUDONYM_KEY_TEXT not in body and cookie.value not in body
        async with person.session.get(f"{web_chat.base_url}/chat/no-such-shop") as missing:
            assert missing.status == 404
    finally:
        await person.close()


PSEUDONYM_KEY_TEXT = "k" * 40


@pytest.mark.parametrize(
    ("query", "accept", "language"),
    [("?lang=uk", "de-DE,de;q=0.9", "uk"), ("", "fr-FR, de;q=0.8, en;q=0.5", "de"), ("", "", "en")],
)
async def test_the_page_language_comes_from_lang_then_the_browser(
    web_chat: WebChat, query: str, accept: str, language: str
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{web_chat.base_url}/chat/kinaexpert{query}", headers={"Accept-Language": accept}
        ) as response,
    ):
        body = await response.text()
    assert f'<html lang="{language}">' in body
    assert f"socket?lang={language}" in body


async def test_static_files_and_the_widget_are_served_from_here(web_chat: WebChat) -> None:
    async with aiohttp.ClientSession() as session:
        for path in ("/widget.js", "/chat/static/chat.js", "/chat/static/chat.css"):
            async with session.get(web_chat.base_url + path) as response:
                assert response.status == 200, path
                assert response.headers["X-Content-Type-Options"] == "nosniff"
        async with session.get(web_chat.base_url + "/chat/static/..%2Fserver.py") as response:
            assert response.status == 404


async def test_a_question_gets_the_quoted_answer_and_a_button_works(visitor: WebVisitor) -> None:
    welcome = await welcomed(visitor)
    assert "Online Store" in welcome["html"]
    answer = await visitor.say("How long do you keep my personal data?", nonce="n1")
    assert "<b>Data retention</b>" in answer["html"]
    assert "<blockquote>" in answer["html"] and "5 years" in answer["html"]
    [echo] = [e for e in visitor.events if e.get("from") == "customer"]
    assert echo["text"] == "How long do you keep my personal data?"
    assert echo["nonce"] == "n1"
    assert answer["buttons"], answer
    await visitor.press(answer, "Not helpful")
    assert await visitor.toast() == "Thank you for the feedback!"
    deletion = next(
        b["text"] for row in answer["buttons"] for b in row if b["data"] == "menu:deletion"
    )
    flow = await visitor.answer_to_press(answer, deletion)
    assert "delet" in flow["html"].lower() and flow["buttons"]


async def test_html_from_the_bot_is_sanitised(visitor: WebVisitor, web_chat: WebChat) -> None:
    await welcomed(visitor)
    chat_id = web_chat.door.cookies.chat_id(
        web_chat.door.cookies.visitor(_cookie(visitor)) or "", "webstore"
    )
    assert is_web_chat(chat_id)
    assert web_chat.door.bot is not None
    before = visitor.last_seq
    await web_chat.door.bot.send_message(
        chat_id,
        '<b>bold</b> <a href="javascript:alert(1)">x</a> <a href="https://shop.example">ok</a>',
    )
    shown = await visitor.next_bot_message(before)
    assert "<b>bold</b>" in shown["html"]
    assert "javascript" not in shown["html"]
    assert 'href="https://shop.example"' in shown["html"] and "noopener" in shown["html"]


def _cookie(person: WebVisitor) -> str:
    return next(c.value for c in person.session.cookie_jar if c.key == COOKIE_NAME)


async def test_reconnect_resumes_without_loss_or_duplicates(visitor: WebVisitor) -> None:
    await welcomed(visitor)
    await visitor.say("Do you sell my data?")
    seen = visitor.last_seq
    await visitor.disconnect()
    # Missed while away: an answer sent to the conversation.
    other = WebVisitor(visitor.base_url, "webstore", session=visitor.session)
    await other.connect(after=seen)
    await other.wait(other.ready.is_set)
    await other.say("What cookies do you use?")
    await other.close()
    await visitor.connect()  # hello with the last event this tab showed
    await visitor.wait(lambda: visitor.last_seq >= other.last_seq)
    numbers = [e["seq"] for e in visitor.events]
    assert numbers == sorted(set(numbers)) == list(range(1, visitor.last_seq + 1))


async def test_a_reload_shows_the_history_and_a_resent_message_is_taken_once(
    visitor: WebVisitor,
) -> None:
    await welcomed(visitor)
    answer = await visitor.say("Do you share my data with anyone?", nonce="same")
    # The page resends after a reconnect what it never saw echoed: the same nonce again.
    await visitor.send_frame({"type": "message", "text": "Do you share my data?", "nonce": "same"})
    await visitor.disconnect()
    reloaded = WebVisitor(visitor.base_url, "webstore", session=visitor.session)
    await reloaded.connect(after=0)
    await reloaded.wait(reloaded.ready.is_set)
    await asyncio.sleep(0.5)
    assert [e["seq"] for e in reloaded.events][: answer["seq"]] == list(range(1, answer["seq"] + 1))
    customer = [e for e in reloaded.events if e.get("from") == "customer"]
    assert [e["nonce"] for e in customer] == ["same"]
    await reloaded.close()


async def test_two_tabs_of_one_visitor_agree(visitor: WebVisitor) -> None:
    await welcomed(visitor)
    tab = WebVisitor(visitor.base_url, "webstore", session=visitor.session)
    await tab.connect()
    await tab.wait(tab.ready.is_set)
    await visitor.say("Can I delete my account?")
    await tab.say("Who is your data protection officer?")
    await visitor.wait(lambda: visitor.last_seq == tab.last_seq and len(visitor.events) >= 5)
    await asyncio.sleep(0.3)
    assert visitor.events == tab.events
    await tab.close()


async def test_another_shop_is_another_conversation(visitor: WebVisitor) -> None:
    await welcomed(visitor)
    other = WebVisitor(visitor.base_url, "klingit", session=visitor.session)
    await other.connect()
    welcome = await welcomed(other)
    assert "Klingit" in welcome["html"] and welcome["seq"] == 1
    await other.close()


async def test_forget_erases_the_transcript_too(visitor: WebVisitor) -> None:
    await welcomed(visitor)
    await visitor.say("Do you sell my data?")
    done = await visitor.say("/forget")
    assert "erased" in done["html"]
    reloaded = WebVisitor(visitor.base_url, "webstore", session=visitor.session)
    await reloaded.connect(after=0)
    await reloaded.wait(reloaded.ready.is_set)
    await asyncio.sleep(0.3)
    assert [e.get("html") for e in reloaded.events] == [done["html"]]
    await reloaded.close()


async def test_privacy_tells_a_web_visitor_what_is_stored(visitor: WebVisitor) -> None:
    await welcomed(visitor)
    await visitor.say("Do you sell my data?")
    stored = await visitor.say("/privacy")
    assert "an anonymous visitor id in a cookie" in stored["html"]
    assert "kept for 36 months after they are closed" in stored["html"]
    assert "Right now: 1 questions" in stored["html"]


async def test_bad_frames_are_refused_with_a_reason_and_change_nothing(
    visitor: WebVisitor, web_chat: WebChat
) -> None:
    await welcomed(visitor)
    before = visitor.last_seq
    await visitor.send_frame({"type": "message", "text": "x" * 4097, "nonce": "long"})
    await visitor.send_frame({"type": "message", "text": ["not", "text"], "nonce": "odd"})
    await visitor.send_frame({"type": "press", "message_id": "1", "data": "x"})
    await visitor.send_frame({"type": "press", "message_id": 99999, "data": "menu"})
    assert visitor._ws is not None
    await visitor._ws.send_str("{not json")
    reasons = await visitor.wait(
        lambda: (
            [f["reason"] for f in visitor.transient if f["type"] == "error"][3:]
            and [f["reason"] for f in visitor.transient if f["type"] == "error"]
        )
    )
    assert reasons == ["too_long", "bad_frame", "bad_frame", "bad_frame"]
    [too_long] = [f for f in visitor.transient if f.get("reason") == "too_long"]
    assert too_long["nonce"] == "long" and "too long" in too_long["text"]
    await asyncio.sleep(0.3)
    assert visitor.last_seq == before  # nothing echoed, nothing answered


async def test_a_frame_too_big_closes_the_socket(visitor: WebVisitor) -> None:
    await welcomed(visitor)
    await visitor.send_frame({"type": "message", "text": "x" * 30_000, "nonce": "big"})
    code = await visitor.wait(lambda: visitor.closed)
    assert code == 1009


async def test_an_origin_not_allowed_is_refused(web_chat: WebChat) -> None:
    stranger = WebVisitor(web_chat.base_url, "kinaexpert", origin="https://evil.example")
    await stranger.open_page()
    await stranger.connect()
    assert await stranger.wait(lambda: stranger.closed) == 4403
    assert not stranger.events
    await stranger.close()


def knowledge_with_origin(tmp_path: Path, origin: str) -> Path:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, knowledge)
    toml = knowledge / "kinaexpert" / "shop.toml"
    toml.write_text(toml.read_text() + f'\n[web]\nallowed_origins = ["{origin}"]\n')
    return knowledge


async def test_an_allowed_origin_may_frame_and_talk(tmp_path: Path, corpus_index: Path) -> None:
    origin = "https://shop.example:8443"
    knowledge = knowledge_with_origin(tmp_path, origin)
    async with web_chat_running(tmp_path, corpus_index, knowledge=knowledge) as web_chat:
        person = WebVisitor(web_chat.base_url, "kinaexpert", origin=origin)
        response = await person.open_page()
        assert f"frame-ancestors 'self' {origin}" in response.headers["Content-Security-Policy"]
        await person.connect()
        assert "KinaExpert" in (await welcomed(person))["html"]
        await person.close()
        # Another shop does not allow it.
        other = WebVisitor(web_chat.base_url, "klingit", origin=origin)
        await other.connect()
        assert await other.wait(lambda: other.closed) == 4403
        await other.close()


async def test_floods_are_refused_per_address_and_sockets_are_bounded(
    tmp_path: Path, corpus_index: Path
) -> None:
    limits = WebChatSettings(frames_per_address=3, frames_window_seconds=60, sockets_per_visitor=2)
    async with web_chat_running(tmp_path, corpus_index, web=limits) as web_chat:
        person = WebVisitor(web_chat.base_url, "kinaexpert")
        await person.open_page()
        await person.connect()
        await welcomed(person)
        for number in range(5):
            await person.send_frame(
                {"type": "message", "text": f"hi {number}", "nonce": str(number)}
            )
        await person.wait(lambda: [f for f in person.transient if f.get("reason") == "too_fast"])
        await asyncio.sleep(0.5)
        assert len([e for e in person.events if e.get("from") == "customer"]) == 3
        tabs = [
            WebVisitor(web_chat.base_url, "kinaexpert", session=person.session) for _ in range(2)
        ]
        for tab in tabs:
            await tab.connect()
        assert await tabs[1].wait(lambda: tabs[1].closed) == 4429
        # What operators watch: open sockets, and refusals by reason.
        async with person.session.get(web_chat.base_url + "/metrics") as response:
            metrics = await response.text()
        assert re.search(r"^privacy_assistant_web_chat_sockets [1-9]", metrics, re.M)
        for reason in ("too_fast", "sockets"):
            assert re.search(
                rf'^privacy_assistant_web_chat_refused_total{{reason="{reason}"}} [1-9]',
                metrics,
                re.M,
            ), reason
        for tab in tabs:
            await tab.disconnect()
        await person.close()


async def test_frames_travel_as_json_text(web_chat: WebChat) -> None:
    """The socket speaks JSON objects only: a list is a bad frame."""
    person = WebVisitor(web_chat.base_url, "kinaexpert")
    await person.open_page()
    await person.connect()
    await welcomed(person)
    assert person._ws is not None
    await person._ws.send_str(json.dumps([1, 2]))
    await person.wait(lambda: [f for f in person.transient if f.get("reason") == "bad_frame"])
    await person.close()


async def test_the_page_language_greets_and_the_customers_writing_leads(
    web_chat: WebChat,
) -> None:
    person = WebVisitor(web_chat.base_url, "webstore", language="cs")
    await person.open_page()
    await person.connect()
    welcome = await welcomed(person)
    assert "Odpovídám na otázky, jak obchod Online Store" in welcome["html"]
    assert "I answer questions" not in welcome["html"]
    answer = await person.say("Як довго ви зберігаєте мої персональні дані?")
    # Written in Ukrainian: the reply's own words are Ukrainian, not the page's Czech.
    assert any(word in answer["html"] for word in ("політик", "дані", "Політик")), answer["html"]
    refused = WebVisitor(web_chat.base_url, "webstore", language="cs", session=person.session)
    await refused.connect()
    await refused.wait(refused.ready.is_set)
    await refused.send_frame({"type": "message", "text": "x" * 5000, "nonce": "long"})
    [error] = await refused.wait(lambda: [f for f in refused.transient if f["type"] == "error"])
    assert error["text"] == "Zpráva je příliš dlouhá. Zkraťte ji prosím."
    await refused.close()
    await person.close()


async def test_a_visitor_who_writes_too_fast_is_told_to_slow_down(
    tmp_path: Path, corpus_index: Path
) -> None:
    async with web_chat_running(tmp_path, corpus_index, throttle_messages=2) as web_chat:
        person = WebVisitor(web_chat.base_url, "webstore")
        await person.open_page()
        await person.connect()
        await welcomed(person)
        for number in range(4):
            await person.send_frame(
                {"type": "message", "text": f"hello {number}", "nonce": str(number)}
            )
        slow = await person.wait(
            lambda: [m for m in person.bot_messages() if "faster than I can read" in m["html"]]
        )
        assert len(slow) == 1
        await person.close()


async def test_a_quiet_socket_is_closed_and_a_pinging_page_is_kept(
    tmp_path: Path, corpus_index: Path
) -> None:
    limits = WebChatSettings(idle_seconds=1.5)
    async with web_chat_running(tmp_path, corpus_index, web=limits) as web_chat:
        quiet = WebVisitor(web_chat.base_url, "webstore")
        await quiet.open_page()
        await quiet.connect()
        await welcomed(quiet)
        awake = WebVisitor(web_chat.base_url, "webstore", session=quiet.session)
        await awake.connect()
        await awake.wait(awake.ready.is_set)
        for _ in range(8):
            await awake.send_frame({"type": "ping"})
            await asyncio.sleep(0.5)
        assert quiet.closed == 1001
        assert awake.closed is None
        await awake.close()
        await quiet.close()


async def test_open_sockets_are_told_when_the_server_stops(
    tmp_path: Path, corpus_index: Path
) -> None:
    async with web_chat_running(tmp_path, corpus_index) as web_chat:
        person = WebVisitor(web_chat.base_url, "webstore")
        await person.open_page()
        await person.connect()
        await welcomed(person)
    assert await person.wait(lambda: person.closed) == 1001
    await person.close()


async def test_a_message_that_could_not_be_kept_is_refused_and_taken_when_sent_again(
    web_chat: WebChat,
) -> None:
    person = WebVisitor(web_chat.base_url, "webstore")
    await person.open_page()
    await person.connect()
    await welcomed(person)
    transcript = web_chat.door.transcript
    real_append = transcript.append
    failures = [ConnectionError("Redis went away")]

    async def failing_append(chat_id: int, event: dict) -> dict:  # type: ignore[type-arg]
        if failures and event.get("from") == "customer":
            raise failures.pop()
        return await real_append(chat_id, event)

    transcript.append = failing_append  # type: ignore[method-assign]
    try:
        await person.send_frame({"type": "message", "text": "Do you sell my data?", "nonce": "z"})
        [refused] = await person.wait(
            lambda: [f for f in person.transient if f.get("reason") == "unavailable"]
        )
        assert refused["nonce"] == "z" and "busy" in refused["text"]
        assert person.closed is None  # the socket stays
        answer = await person.say("Do you sell my data?", nonce="z")  # the page resends
        assert answer["html"]
        assert [e["nonce"] for e in person.events if e.get("from") == "customer"] == ["z"]
    finally:
        transcript.append = real_append  # type: ignore[method-assign]
        await person.close()


HOSTILE_FRAMES = [
    "[" * 5000 + "]" * 5000,
    '{"type": "hello", "after": "0"}',
    '{"type": "message", "text": null, "nonce": "a"}',
    '{"type": "message", "text": "hi", "nonce": ""}',
    '{"type": "message", "text": "hi", "nonce": "' + "n" * 65 + '"}',
    '{"type": "press", "message_id": 1.5, "data": "menu:access"}',
    '{"type": "press", "message_id": 1, "data": "' + "d" * 65 + '"}',
    '{"type": "press", "message_id": -1, "data": "menu:access"}',
    '{"type": "\\u0000", "text": "\\ud800"}',
    "null",
    '"just a string"',
    "1e400",
]


@pytest.mark.parametrize("raw", HOSTILE_FRAMES)
async def test_hostile_frames_leave_the_socket_and_the_conversation_intact(
    web_chat: WebChat, raw: str
) -> None:
    person = WebVisitor(web_chat.base_url, "webstore")
    await person.open_page()
    await person.connect()
    welcome = await welcomed(person)
    assert person._ws is not None
    await person._ws.send_str(raw)
    answer = await person.say("Do you sell my data?")
    assert answer["seq"] > welcome["seq"] and person.closed is None
    customer = [e for e in person.events if e.get("from") == "customer"]
    assert [e["text"] for e in customer] == ["Do you sell my data?"]
    await person.close()
