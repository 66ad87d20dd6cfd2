"""The web chat in a real browser, end to end through the real server: Debian's chromium,
headless, on the page `GET /chat/<shop>` and the widget (bot/web/PROTOCOL.md).

A question gets its quoted answer and buttons work; a privacy request is verified with the
code from a real SMTP inbox; a hand-off reaches the support group of the fake Bot API and
the operator's answer reaches the page; reloads, reconnects and tabs lose and repeat
nothing; origins are refused or allowed as the shop says, the widget works on another
origin; the keyboard alone gets through; axe-core finds no serious fault; and the
screenshots in docs/ are taken here (rewritten only with UPDATE_SCREENSHOTS=1).

One Chrome serves the module, as a new visitor in every test (a fresh tab, no cookies);
one assistant serves the tests that need no special settings, and a test that does starts
its own. Selenium's blocking calls run in threads (tests/support/browser.py), so the
assistant, on the test's event loop, goes on serving the browser.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import WSCloseCode, web
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from sqlmodel import select

from backend.models import PrivacyRequest
from backend.privacy_requests import SmtpSettings
from bot.web.visitors import COOKIE_NAME
from indexer.settings import PROJECT_ROOT
from tests.bot.test_handoff import GROUP, OPERATOR, with_support_group
from tests.support.browser import Browser, Shown, headless_chrome
from tests.support.fake_bot_api import ApiCall
from tests.support.mail_server import Mailbox
from tests.web.conftest import WebChat, web_chat_running
from tests.web.test_web_chat import knowledge_with_origin

pytestmark = pytest.mark.asyncio(loop_scope="module")

QUESTION = "How long do you keep my personal data?"
ANN = "ann@example.com"
DOCS = PROJECT_ROOT / "docs"


# ---- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_chrome() -> Iterator[Browser]:
    with headless_chrome() as browser:
        yield browser


@pytest_asyncio.fixture(loop_scope="module")
async def chrome(one_chrome: Browser) -> AsyncIterator[Browser]:
    """The module's Chrome as a new visitor's: one blank tab, no cookie, no emulation (and
    left so again: no page of it keeps a socket open)."""
    await one_chrome.reset()
    yield one_chrome
    await one_chrome.reset()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def web_chat(
    tmp_path_factory: pytest.TempPathFactory, corpus_index: Path
) -> AsyncIterator[WebChat]:
    """`python -m bot --web` for the tests that need nothing special."""
    async with web_chat_running(
        tmp_path_factory.mktemp("web"), corpus_index, throttle_messages=1000
    ) as chat:
        yield chat


def chat_url(chat: WebChat, shop: str = "webstore") -> str:
    return f"{chat.base_url}/chat/{shop}?lang=en"


def once(shown: list[Shown]) -> None:
    """Every message shown once, numbered by the server, in its order."""
    numbers = [int(m.message_id or 0) for m in shown]
    assert all(numbers) and numbers == sorted(set(numbers)), shown
    assert not [m for m in shown if m.pending], shown


def seen(shown: list[Shown]) -> list[tuple[str, str | None, str]]:
    return [(m.sender, m.message_id, m.text) for m in shown]


# ---- 1. a question, and buttons ------------------------------------------------------------


async def test_a_question_typed_in_the_page_gets_the_quoted_answer_and_buttons_work(
    web_chat: WebChat, chrome: Browser
) -> None:
    [welcome] = await chrome.open_chat(chat_url(web_chat))
    assert "Online Store" in welcome.text and "Delete my data" in welcome.buttons

    answer = await chrome.ask(QUESTION)
    assert answer.html.startswith("<b>Data retention</b>")
    quote = await chrome.script(
        "return document.querySelector('[data-message-id=\"' + arguments[0] + '\"] blockquote')"
        ".textContent",
        answer.message_id,
    )
    assert "5 years" in quote
    [asked] = [m for m in await chrome.messages() if m.sender == "customer"]
    assert asked.text == QUESTION and not asked.pending

    # A request button under the answer starts its flow; the answer's feedback buttons work.
    offer = await chrome.press_for_answer("Delete my data", containing="Shall I start it?")
    assert "Confirm" in " ".join(offer.buttons)
    await chrome.press("Not helpful")
    await chrome.status("Thank you for the feedback!")
    once(await chrome.messages())


async def test_buttons_are_pressable_again_once_the_press_is_answered(
    web_chat: WebChat, chrome: Browser
) -> None:
    """The answer to "Not helpful" is a toast only: once it shows, the buttons of the
    message are pressable again (no other button of the answer is locked out)."""
    await chrome.open_chat(chat_url(web_chat))
    answer = await chrome.ask(QUESTION)
    await chrome.press("Not helpful")
    await chrome.status("Thank you for the feedback!")
    disabled = await chrome.script(
        "return Array.from(document.querySelectorAll("
        "'[data-message-id=\"' + arguments[0] + '\"] .buttons button'), (b) => b.disabled)",
        answer.message_id,
    )
    assert disabled == [False] * len(answer.buttons)


# ---- 2. a privacy request verified with the e-mailed code -----------------------------------


async def test_an_unsubscribe_is_verified_with_the_code_from_the_inbox(
    tmp_path: Path,
    corpus_index: Path,
    chrome: Browser,
    mailbox: tuple[Mailbox, SmtpSettings],
) -> None:
    inbox, smtp = mailbox
    async with own_server(
        chrome, tmp_path, corpus_index, smtp=smtp, throttle_messages=1000
    ) as chat:
        await chrome.open_chat(chat_url(chat))
        offer = await chrome.ask("Please stop sending me newsletters")
        assert "You want to stop marketing messages" in offer.text
        assert "Shall I start it?" in offer.text and offer.buttons == ("Confirm", "Cancel")
        ask = await chrome.press_for_answer("Confirm")
        assert "Which e-mail address does Online Store know you by?" in ask.text
        sent = await chrome.ask(ANN)
        assert "I sent a 6-digit code" in sent.text
        done = await chrome.ask(await inbox.code_for(ANN))
        assert "Done: Online Store will send you no more marketing messages" in done.text
        listing = await chrome.ask("/requests")
        assert listing.text == (
            "Your privacy requests:\n• Unsubscribe from marketing at Online Store: completed"
        )
        async with chat.services.database.session() as session:
            [request] = (await session.exec(select(PrivacyRequest))).all()
        assert (request.kind, request.status) == ("unsubscribe", "completed")
        assert inbox.recipients == [[ANN]]
        once(await chrome.messages())


# ---- 3. a hand-off to the shop's support group and back ------------------------------------


async def test_a_hand_off_reaches_the_support_group_and_the_operator_answers_in_the_page(
    tmp_path: Path, corpus_index: Path, chrome: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No second between calls into the group: the card and the message go at once.
    monkeypatch.setenv("BOT_HANDOFF_GROUP_MIN_GAP_SECONDS", "0")
    async with own_server(
        chrome,
        tmp_path,
        corpus_index,
        telegram=True,
        knowledge=with_support_group(tmp_path),
        throttle_messages=1000,
    ) as chat:
        fake = chat.fake
        assert fake is not None
        await chrome.open_chat(chat_url(chat))
        passed = await chrome.ask("/human")
        assert "passed our conversation to a person at Online Store" in passed.text
        [created] = await fake.wait_for(
            "createForumTopic",
            timeout=30,
            predicate=lambda c: c.ok and c.params["chat_id"] == GROUP,
        )
        topic = created.result["message_thread_id"]

        said = "My parcel never came. Can someone look at order 1234?"
        await chrome.type_and_send(said)

        def in_topic(call: ApiCall) -> bool:
            return (
                call.ok
                and call.params["chat_id"] == GROUP
                and call.params.get("message_thread_id") == topic
                and call.params.get("text") == said
            )

        await fake.wait_for("sendMessage", timeout=30, predicate=in_topic)

        answer = "Hello, this is Olga from Online Store. Your parcel left our warehouse today."
        fake.push_update(
            fake.message_update(
                answer,
                user_id=OPERATOR,
                first_name="Olga",
                username="olga",
                chat_id=GROUP,
                chat_type="supergroup",
                message_thread_id=topic,
            )
        )
        shown = await chrome.said(answer)
        assert shown.text == answer
        messages = await chrome.messages()
        assert [m.text for m in messages].count(said) == 1
        assert [m.text for m in messages].count(answer) == 1
        assert [m.sender for m in messages if m.text == said] == ["customer"]
        once(messages)
        assert len(fake.calls_to("createForumTopic")) == 1


# ---- 4. reload, reconnect, two tabs --------------------------------------------------------


async def test_reload_reconnect_and_a_second_tab_lose_and_repeat_nothing(
    web_chat: WebChat, chrome: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server's sockets, so that the test can close one from the server's side.
    sockets: list[web.WebSocketResponse] = []
    converse = web_chat.door._converse

    async def recorded(ws: web.WebSocketResponse, conversation: Any) -> None:
        sockets.append(ws)
        await converse(ws, conversation)

    monkeypatch.setattr(web_chat.door, "_converse", recorded)
    url = chat_url(web_chat)
    await chrome.open_chat(url)
    await chrome.ask(QUESTION)
    before = await chrome.messages()
    once(before)

    # A reload shows the same conversation, nothing twice.
    await chrome.call(chrome.driver.refresh)
    assert seen(await chrome.ready(history=bot_count(before))) == seen(before)

    # The server drops the socket (a restart): the page connects again and goes on.
    live = sockets[-1]  # the reloaded page's
    assert not live.closed
    opened = len(sockets)
    await live.close(code=WSCloseCode.SERVICE_RESTART, message=b"restart")
    await chrome.wait(lambda _driver: len(sockets) > opened, "the page to connect again")
    await chrome.ready(history=bot_count(before))
    await chrome.ask("Do you sell my data?")

    # Offline: the page waits; what the bot said meanwhile and what was typed meanwhile
    # both arrive once when the network is back.
    await chrome.online(False)
    await chrome.status(OFFLINE)
    chat_id = await visitor_chat(web_chat, chrome)
    note = "A note sent while you were offline."
    assert web_chat.door.bot is not None
    await web_chat.door.bot.send_message(chat_id, note)
    typed = "What cookies do you use?"
    await chrome.type_and_send(typed)
    [waiting] = [m for m in await chrome.messages() if m.pending]
    assert waiting.text == typed
    shown_bots = bot_count(await chrome.messages())
    await chrome.online(True)
    await chrome.bot_message(shown_bots + 2)  # the note, and the answer to what was typed
    await chrome.ready(history=shown_bots + 2)
    after = await chrome.messages()
    once(after)
    texts = [m.text for m in after]
    assert texts.count(note) == 1 and texts.count(typed) == 1
    assert texts.index(note) < texts.index(typed)
    assert seen(after)[: len(before)] == seen(before)

    # A second tab shows the same; what is said in one shows in the other, once.
    first = chrome.driver.current_window_handle
    await chrome.call(chrome.driver.switch_to.new_window, "tab")
    assert seen(await chrome.open_chat(url, history=bot_count(after))) == seen(after)
    asked = "Who is your data protection officer?"
    await chrome.ask(asked)
    second = await chrome.messages()
    await chrome.call(chrome.driver.switch_to.window, first)
    await chrome.bot_message(bot_count(second))
    assert seen(await chrome.messages()) == seen(second)
    assert [m.text for m in second].count(asked) == 1
    once(second)


OFFLINE = "You are offline. Your message will be sent when you are back online."


def bot_count(shown: list[Shown]) -> int:
    return len([m for m in shown if m.sender == "bot"])


async def visitor_chat(chat: WebChat, chrome: Browser, shop: str = "webstore") -> int:
    """The chat id of the browser's visitor with `shop` (from its HttpOnly cookie)."""
    cookie = await chrome.call(chrome.driver.get_cookie, COOKIE_NAME)
    assert cookie is not None
    visitor = chat.door.cookies.visitor(cookie["value"])
    assert visitor is not None
    return chat.door.cookies.chat_id(visitor, shop)


# ---- 5. origins and the widget ---------------------------------------------------------------


async def test_the_widget_works_on_an_allowed_origin_and_other_origins_are_refused(
    tmp_path: Path,
    corpus_index: Path,
    chrome: Browser,
) -> None:
    pages: dict[str, str] = {}
    async with host_site(pages) as host:
        # kinaexpert allows the host page's origin; klingit allows only its own.
        knowledge = knowledge_with_origin(tmp_path, host)
        async with own_server(
            chrome, tmp_path, corpus_index, knowledge=knowledge, throttle_messages=1000
        ) as chat:
            for shop in ("kinaexpert", "klingit"):
                pages[shop] = HOST_PAGE.format(chat=chat.base_url, shop=shop)

            await chrome.call(chrome.driver.get, f"{host}/kinaexpert")
            frame = await open_widget(chrome)
            source = await chrome.call(frame.get_attribute, "src")
            assert source == f"{chat.base_url}/chat/kinaexpert?embed=1&lang=en"
            await chrome.call(chrome.driver.switch_to.frame, frame)
            [welcome] = await chrome.ready()
            assert "KinaExpert" in welcome.text
            answer = await chrome.ask("Do you sell my data?")
            assert "<blockquote>" in answer.html
            await chrome.call(chrome.driver.switch_to.default_content)
            # The host page's own script may talk to kinaexpert, not to klingit.
            assert await socket_from_page(chrome, chat, "kinaexpert") == "ready"
            assert await socket_from_page(chrome, chat, "klingit") == "closed 4403"

            await chrome.call(chrome.driver.get, f"{host}/klingit")
            frame = await open_widget(chrome)
            refused = await chrome.console_says("Content Security Policy")
            assert f"Framing '{chat.base_url}/' violates" in refused
            assert "\"frame-ancestors 'self'\". The request has been blocked." in refused
            await chrome.call(chrome.driver.switch_to.frame, frame)
            chat_parts = await chrome.call(
                chrome.driver.find_elements, By.CSS_SELECTOR, "textarea, [data-from]"
            )
            assert chat_parts == []
            await chrome.call(chrome.driver.switch_to.default_content)


HOST_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Another shop's site</title></head>
<body>
<h1>Spare parts</h1>
<p>Somebody else's page, on another origin.</p>
<script src="{chat}/widget.js" data-shop="{shop}" async></script>
</body>
</html>
"""


@contextlib.asynccontextmanager
async def host_site(pages: dict[str, str]) -> AsyncIterator[str]:
    """A second site on another port of localhost, serving `pages` by name; its origin."""

    async def page(request: web.Request) -> web.Response:
        body = pages.get(request.match_info["name"])
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{name}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://localhost:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def open_widget(chrome: Browser) -> WebElement:
    """Press the widget's launcher (no iframe before that); the panel's iframe."""
    launcher = await chrome.wait(
        lambda driver: next(iter(driver.find_elements(By.ID, "privacy-help-launcher")), None),
        "the widget's launcher",
    )
    assert await chrome.call(chrome.driver.find_elements, By.TAG_NAME, "iframe") == []
    await chrome.call(launcher.click)
    assert await chrome.call(launcher.get_attribute, "aria-expanded") == "true"
    frame = await chrome.wait(
        lambda driver: next(
            iter(driver.find_elements(By.CSS_SELECTOR, "#privacy-help-panel iframe")), None
        ),
        "the widget's iframe",
    )
    assert await chrome.call(frame.is_displayed)
    return frame


async def socket_from_page(chrome: Browser, chat: WebChat, shop: str) -> str:
    """The current page's own script opens `shop`'s socket: "ready" or "closed <code>"."""
    url = chat.base_url.replace("http://", "ws://") + f"/chat/{shop}/socket?lang=en"
    return str(
        await chrome.call(
            chrome.driver.execute_async_script,
            """
            const done = arguments[arguments.length - 1];
            const socket = new WebSocket(arguments[0]);
            socket.onopen = () => socket.send(JSON.stringify({type: 'hello', after: 0}));
            socket.onmessage = (event) => {
              if (JSON.parse(event.data).type === 'ready') {
                socket.close();
                done('ready');
              }
            };
            socket.onclose = (event) => done(`closed ${event.code}`);
            """,
            url,
        )
    )


# ---- 6. the keyboard alone -------------------------------------------------------------------


async def test_the_keyboard_alone_sends_and_presses_with_the_focus_in_sight(
    web_chat: WebChat, chrome: Browser
) -> None:
    await chrome.open_chat(chat_url(web_chat))
    await chrome.tab_to("textarea[name=message]")
    focus = await chrome.focus()
    assert focus["visible"] and focus["outline"].startswith("solid 3px"), focus
    before = await chrome.bot_count()
    await chrome.keys(QUESTION, Keys.ENTER)
    answer = await chrome.bot_message(before + 1)
    assert answer.html.startswith("<b>Data retention</b>")
    assert (await chrome.focus())["name"] == "message"  # still in the box, emptied
    assert await chrome.script("return document.querySelector('textarea').value") == ""

    # Back to a button of the answer: Enter presses it, and the focus returns to the box.
    await chrome.tab_to("button", "Not helpful", backwards=True)
    focus = await chrome.focus()
    assert focus["visible"] and focus["outline"].startswith("solid 3px"), focus
    await chrome.keys(Keys.ENTER)
    await chrome.status("Thank you for the feedback!")
    assert (await chrome.focus())["name"] == "message"

    # Space presses a button too.
    before = await chrome.bot_count()
    await chrome.tab_to("button", "Get a copy of my data", backwards=True)
    assert (await chrome.focus())["visible"]
    await chrome.keys(Keys.SPACE)
    offer = await chrome.bot_message(before + 1)
    assert "Shall I start it?" in offer.text


# ---- 7. an accessibility audit -------------------------------------------------------------


async def test_axe_finds_nothing_serious_at_two_widths_in_light_and_dark(
    web_chat: WebChat, chrome: Browser
) -> None:
    await chrome.open_chat(chat_url(web_chat))
    await chrome.ask(QUESTION)
    found = {}
    for width, height, mobile in ((1280, 800, False), (360, 740, True)):
        await chrome.viewport(width, height, mobile=mobile)
        for scheme in ("light", "dark"):
            await chrome.media(scheme)
            violations = await chrome.axe_violations()
            found[f"{width}px {scheme}"] = [
                (v["id"], v["impact"], [node["target"] for node in v["nodes"]][:3])
                for v in violations
            ]
    assert found == {key: [] for key in found}, found


# ---- 8. screenshots --------------------------------------------------------------------------


async def test_screenshots_of_a_conversation_with_a_quoted_answer(
    web_chat: WebChat, chrome: Browser, tmp_path: Path
) -> None:
    """docs/web-chat-desktop.png and docs/web-chat-360.png, rewritten only with
    UPDATE_SCREENSHOTS=1 (else written to a temporary directory and checked)."""
    folder = DOCS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    await chrome.media("light")
    await chrome.open_chat(chat_url(web_chat))
    answer = await chrome.ask(QUESTION)
    await chrome.script("document.activeElement.blur()")
    for name, width, height, mobile in (
        ("web-chat-desktop.png", 1280, 800, False),
        ("web-chat-360.png", 360, 740, True),
    ):
        await chrome.viewport(width, height, mobile=mobile)
        await chrome.wait(quote_in_view(answer), f"the quoted answer in view at {width} px")
        png = await chrome.call(chrome.driver.get_screenshot_as_png)
        assert png_size(png) == (width, height)
        (folder / name).write_bytes(png)
        assert (folder / name).stat().st_size > 10_000


def quote_in_view(answer: Shown) -> Callable[[Any], bool]:
    def check(driver: Any) -> bool:
        return bool(
            driver.execute_script(
                "const quote = document.querySelector("
                "'[data-message-id=\"' + arguments[0] + '\"] blockquote');"
                "const box = quote.getBoundingClientRect();"
                "const log = document.getElementById('log').getBoundingClientRect();"
                "return box.top >= log.top && box.bottom <= log.bottom;",
                answer.message_id,
            )
        )

    return check


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


# ---- helpers ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def own_server(chrome: Browser, *args: Any, **kwargs: Any) -> AsyncIterator[WebChat]:
    """`web_chat_running` for one test; the browser leaves its pages before the server
    stops (a socket still open would hold the server's shutdown)."""
    async with web_chat_running(*args, **kwargs) as chat:
        try:
            yield chat
        finally:
            await chrome.reset()
