"""A headless Chrome for the web chat's browser tests: Debian's chromium driven through its
chromedriver (never a browser or driver downloaded by Selenium Manager), and the few things
a test does on the chat page: open it, type and send, wait for the n-th bot message, press a
button by its label, read the status line.

Selenium's calls block; an async test runs them off the event loop (`asyncio.to_thread`),
so the server under test, on that loop, keeps serving the browser. Every helper here is
therefore an `async def` that runs its Selenium calls in a thread; `Browser.call` does the
same for any other driver call.

The page's stable hooks (bot/web/static/chat.html and chat.js): the message box is
`<textarea name="message">` in a `<form>`; every message has `data-from="bot"` or
`data-from="customer"` (and `data-message-id` once the server numbered it); a reply button
is a `<button>` whose text is its label; the status line is `#status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from tests.conftest import optional_backend_missing

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# Generous: a slow CI machine must not fail a test that is only slow. Nothing is timed.
WAIT_SECONDS = 30.0
POLL_SECONDS = 0.05

T = TypeVar("T")


@dataclass(frozen=True)
class Shown:
    """One message as the page shows it."""

    sender: str  # "bot" or "customer"
    message_id: str | None  # None while a customer's message waits for its echo
    text: str  # what one reads (the customer's text; the bot's message body)
    html: str  # the bot message's body as rendered ("" for the customer's)
    buttons: tuple[str, ...]  # reply buttons' labels, in order
    pending: bool  # a customer's message not yet echoed by the server


# Every message of the log, in the page's order, in one round trip.
_MESSAGES_JS = """
return Array.from(document.querySelectorAll('#log [data-from]'), (el) => {
  const body = el.querySelector(':scope > .body');
  return {
    sender: el.dataset.from,
    message_id: el.dataset.messageId || null,
    text: body ? body.textContent : el.textContent,
    html: body ? body.innerHTML : '',
    buttons: Array.from(el.querySelectorAll('.buttons button'), (b) => b.textContent),
    pending: el.classList.contains('pending'),
  };
});
"""

# The newest enabled reply button whose label is this, or else contains it ("Not helpful"
# finds "👎 Not helpful").
_BUTTON_JS = """
const label = arguments[0];
const buttons = Array.from(document.querySelectorAll('#log [data-from="bot"] .buttons button'))
  .filter((b) => !b.disabled)
  .reverse();
return buttons.find((b) => b.textContent.trim() === label)
  || buttons.find((b) => b.textContent.includes(label))
  || null;
"""


class Browser:
    """One Chrome (its tabs share the visitor cookie, as a person's tabs do)."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver
        self.console: list[str] = []  # the browser console's messages since the last reset

    # ---- plumbing ------------------------------------------------------------------------

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Any blocking call (a driver method), off the event loop."""
        return await asyncio.to_thread(function, *args, **kwargs)

    async def script(self, source: str, *args: Any) -> Any:
        return await self.call(self.driver.execute_script, source, *args)

    async def cdp(self, command: str, params: dict[str, Any] | None = None) -> Any:
        return await self.call(self.driver.execute_cdp_cmd, command, params or {})

    async def wait(
        self,
        check: Callable[[webdriver.Chrome], T | None],
        what: str,
        seconds: float = WAIT_SECONDS,
    ) -> T:
        """The first truthy `check(driver)`; on time out an AssertionError naming `what`
        and what the page showed."""
        return await self.call(self._wait, check, what, seconds)

    def _wait(self, check: Callable[[webdriver.Chrome], T | None], what: str, seconds: float) -> T:
        try:
            found = WebDriverWait(self.driver, seconds, poll_frequency=POLL_SECONDS).until(check)
            return cast(T, found)
        except TimeoutException:
            raise AssertionError(f"waited {seconds:.0f} s for {what}; {self._report()}") from None

    def _report(self) -> str:
        """What the page shows, for a failure's message."""
        try:
            shown = [(m.sender, m.text[:80], m.buttons) for m in self._messages()]
            status = self.driver.find_element(By.ID, "status").text
            return f"status line {status!r}, messages {json.dumps(shown, ensure_ascii=False)}"
        except WebDriverException as error:
            return f"(no chat page: {error.msg})"

    # ---- the chat page -------------------------------------------------------------------

    async def open_chat(self, url: str, *, history: int = 1) -> list[Shown]:
        """Load the chat page at `url` and wait until it is connected and shows at least
        `history` bot messages (a new conversation's welcome); what it shows then."""
        await self.call(self.driver.get, url)
        return await self.ready(history=history)

    async def ready(self, *, history: int = 1) -> list[Shown]:
        """Wait for the socket to be up (the status line empty) and `history` bot messages."""

        def connected(driver: webdriver.Chrome) -> list[Shown] | None:
            if driver.find_element(By.ID, "status").text:
                return None
            shown = self._messages()
            return shown if len(_bot(shown)) >= history else None

        return await self.wait(connected, f"the chat connected with {history} bot message(s)")

    def _messages(self) -> list[Shown]:
        rows = self.driver.execute_script(_MESSAGES_JS)
        return [
            Shown(
                sender=row["sender"],
                message_id=row["message_id"],
                text=row["text"],
                html=row["html"],
                buttons=tuple(row["buttons"]),
                pending=row["pending"],
            )
            for row in rows
        ]

    async def messages(self) -> list[Shown]:
        """Every message the page shows now, in order."""
        return await self.call(self._messages)

    async def bot_message(self, number: int, containing: str = "") -> Shown:
        """The `number`-th bot message (from 1), once shown (and once its text contains
        `containing`: an edit may still be on its way)."""

        def shown(driver: webdriver.Chrome) -> Shown | None:
            bot = _bot(self._messages())
            if len(bot) >= number and containing in bot[number - 1].text:
                return bot[number - 1]
            return None

        return await self.wait(shown, f"bot message {number} containing {containing!r}")

    async def said(self, containing: str) -> Shown:
        """The first bot message whose text contains `containing`, once shown."""

        def shown(driver: webdriver.Chrome) -> Shown | None:
            return next((m for m in _bot(self._messages()) if containing in m.text), None)

        return await self.wait(shown, f"a bot message containing {containing!r}")

    async def bot_count(self) -> int:
        return len(_bot(await self.messages()))

    async def type_and_send(self, text: str) -> None:
        """Type into the message box and press Enter (the page sends on Enter)."""
        await self.call(self._type_and_send, text)

    def _type_and_send(self, text: str) -> None:
        box = self.driver.find_element(By.NAME, "message")
        box.send_keys(text)
        box.send_keys("\n")

    async def ask(self, text: str, containing: str = "") -> Shown:
        """Send `text`; the first bot message after it (containing `containing`)."""
        before = await self.bot_count()
        await self.type_and_send(text)
        return await self.bot_message(before + 1, containing)

    async def button(self, label: str) -> WebElement:
        """The newest enabled reply button with this label."""

        def found(driver: webdriver.Chrome) -> WebElement | None:
            element = driver.execute_script(_BUTTON_JS, label)
            return element if isinstance(element, WebElement) else None

        return await self.wait(found, f"an enabled button {label!r}")

    async def press(self, label: str) -> None:
        """Click the newest enabled reply button with this label."""
        await self.call((await self.button(label)).click)

    async def press_for_answer(self, label: str, containing: str = "") -> Shown:
        """Press a button; the first bot message after it (containing `containing`)."""
        before = await self.bot_count()
        await self.press(label)
        return await self.bot_message(before + 1, containing)

    async def status(self, text: str) -> str:
        """Wait until the status line says `text` (a toast, an error, a connection state)."""
        return await self.wait(
            lambda driver: text if driver.find_element(By.ID, "status").text == text else None,
            f"the status line to say {text!r}",
        )

    # ---- the keyboard ----------------------------------------------------------------------

    async def keys(self, *keys: str) -> None:
        """Press keys (or type text) into whatever has the focus, as a keyboard does."""
        await self.call(ActionChains(self.driver).send_keys(*keys).perform)

    async def tab_to(self, selector: str, label: str = "", *, backwards: bool = False) -> str:
        """Press Tab (Shift+Tab when `backwards`) until the focused element matches the CSS
        `selector` and its text contains `label`; its outer HTML. At most 50 presses."""
        return await self.call(self._tab_to, selector, label, backwards)

    def _tab_to(self, selector: str, label: str, backwards: bool) -> str:
        for _ in range(50):
            keys = ActionChains(self.driver)
            if backwards:
                keys.key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT)
            else:
                keys.send_keys(Keys.TAB)
            keys.perform()
            found = self.driver.execute_script(
                "const el = document.activeElement;"
                "return el && el.matches(arguments[0]) && el.textContent.includes(arguments[1])"
                " ? el.outerHTML : null;",
                selector,
                label,
            )
            if found:
                return str(found)
        raise AssertionError(f"50 presses of Tab never reached {selector} {label!r}")

    async def focus(self) -> dict[str, Any]:
        """The focused element (`tag`, `name`, `text`) and how its focus shows: `visible`
        (it matches :focus-visible) and `outline` (computed: style, width, colour)."""
        return dict(
            await self.script(
                """
                const el = document.activeElement;
                const style = getComputedStyle(el);
                return {
                  tag: el.tagName.toLowerCase(),
                  name: el.getAttribute('name'),
                  text: el.textContent.trim(),
                  visible: el.matches(':focus-visible'),
                  outline: `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`,
                };
                """
            )
        )

    async def console_says(self, containing: str) -> str:
        """Wait for a console message (any frame of the tab) containing `containing`."""

        def logged(driver: webdriver.Chrome) -> str | None:
            self.console += [entry["message"] for entry in _console(driver)]
            return next((line for line in self.console if containing in line), None)

        return await self.wait(logged, f"the console to say {containing!r}")

    # ---- browser state -------------------------------------------------------------------

    async def viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        """Make the page's viewport exactly this size (CSS pixels, one device pixel each)."""
        await self.cdp(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )

    async def media(self, scheme: str) -> None:
        """prefers-color-scheme `scheme` ("light" or "dark"), and reduced motion (nothing
        caught half-way through its entrance by an audit or a screenshot)."""
        features = [
            {"name": "prefers-color-scheme", "value": scheme},
            {"name": "prefers-reduced-motion", "value": "reduce"},
        ]
        await self.cdp("Emulation.setEmulatedMedia", {"features": features})

    async def online(self, online: bool) -> None:
        """Take the network away (navigator.onLine turns false, `offline` fires) or back."""
        await self.cdp("Network.enable")
        await self.cdp(
            "Network.emulateNetworkConditions",
            {
                "offline": not online,
                "latency": 0,
                "downloadThroughput": -1,
                "uploadThroughput": -1,
            },
        )

    async def axe_violations(self, impacts: tuple[str, ...] = ("serious", "critical")) -> list[Any]:
        """Run the bundled axe-core on the current page (or frame): its violations of these
        impacts, each as axe reports it."""
        if not await self.script("return typeof axe === 'object'"):
            await self.script(AXE.read_text(encoding="utf-8"))
        result = await self.call(
            self.driver.execute_async_script,
            """
            const done = arguments[arguments.length - 1];
            axe.run(document, {resultTypes: ['violations']})
              .then((r) => done(r.violations))
              .catch((e) => done({error: String(e)}));
            """,
        )
        assert not isinstance(result, dict), result
        return [v for v in result if v.get("impact") in impacts]

    async def reset(self) -> None:
        """As a new visitor's browser: one fresh tab (so no emulation, and no page of an
        earlier test left open, not even in the back/forward cache, whose pages keep their
        sockets), no cookies, the console forgotten."""
        await self.call(self._reset)

    def _reset(self) -> None:
        driver = self.driver
        old = driver.window_handles
        driver.switch_to.new_window("tab")
        fresh = driver.current_window_handle
        for handle in old:
            driver.switch_to.window(handle)
            driver.close()
        driver.switch_to.window(fresh)
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        _console(driver)
        self.console = []


def _console(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """The console's messages since the last call (of every frame of the tab)."""
    return list(driver.get_log("browser"))  # type: ignore[no-untyped-call]


def _bot(shown: list[Shown]) -> list[Shown]:
    return [m for m in shown if m.sender == "bot"]


@contextlib.contextmanager
def headless_chrome() -> Iterator[Browser]:
    """A headless Chrome (English, its console kept for the tests to read); quit at the
    end. Skips (fails in CI) where chromium or its driver is not installed."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        optional_backend_missing("chromium and chromium-driver")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--lang=en-US",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Both paths given: Selenium Manager has nothing to find (and downloads nothing).
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.set_script_timeout(WAIT_SECONDS)
        yield Browser(driver)
    finally:
        driver.quit()
