"""Log lines never carry e-mail addresses, phone numbers, tokens or the customer's text,
whichever way they got into the record; and numbers that are none of those survive."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from backend.observability.logs import (
    REQUEST_ID,
    JsonFormatter,
    LogSettings,
    RedactingFilter,
    TextFormatter,
    configure_logging,
    protect_texts,
    redact,
    request_context,
)

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
API_KEY = "pha_x3Kq9Zp1-Vw_8sYtRbN2mLcDe4FgHiJkLmNoPqRsTuV"


class Capture:
    """A logger whose lines land in a buffer, through the filter and a formatter."""

    def __init__(self, formatter: logging.Formatter) -> None:
        self.buffer = io.StringIO()
        self.handler = logging.StreamHandler(self.buffer)
        self.handler.addFilter(RedactingFilter())
        self.handler.setFormatter(formatter)
        self.logger = logging.getLogger(f"test.observability.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self.handler)

    @property
    def text(self) -> str:
        return self.buffer.getvalue()

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.text.splitlines() if line]

    def close(self) -> None:
        self.logger.removeHandler(self.handler)


@pytest.fixture
def capture() -> Iterator[Capture]:
    sink = Capture(JsonFormatter())
    yield sink
    sink.close()


@pytest.fixture
def text_capture() -> Iterator[Capture]:
    sink = Capture(TextFormatter())
    yield sink
    sink.close()


@pytest.mark.parametrize(
    ("line", "secret", "placeholder"),
    [
        (
            "mail from anna.novak+shop@example.co.uk today",
            "anna.novak+shop@example.co.uk",
            "[email]",
        ),
        ("call +420 777 123 456 please", "777 123 456", "[phone]"),
        ("call +380501234567.", "+380501234567", "[phone]"),
        ("US: (555) 123-4567", "123-4567", "[phone]"),
        ("local 777 123 456", "777 123 456", "[phone]"),
        ("local 050-123-45-67", "050-123-45-67", "[phone]"),
        (f"POST https://api.telegram.org/bot{BOT_TOKEN}/sendMessage", BOT_TOKEN, "[token]"),
        (f"token {BOT_TOKEN} rejected", BOT_TOKEN, "[token]"),
        (f"key {API_KEY} revoked", API_KEY, "[token]"),
        ("Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl", "Bearer [token]"),
        ("GET /hook?secret_token=s3cr3t-XYZ&x=1", "s3cr3t-XYZ", "secret_token=[token]"),
        ("login password=hunter22 failed", "hunter22", "password=[token]"),
        ("config {'api_key': 'abcdef123'}", "abcdef123", "[token]"),
        ("?token=zzzTOKENzzz", "zzzTOKENzzz", "token=[token]"),
        ("key=k3y-value", "k3y-value", "key=[token]"),
        ("db postgresql+asyncpg://app:Pa55word@db:5432/app", "Pa55word", "app:[token]@db"),
        ("redis://:redispass@cache:6379/0", "redispass", ":[token]@cache"),
        ("secret whsec_c2VjcmV0c2VjcmV0c2VjcmV0", "whsec_c2VjcmV0", "[token]"),
    ],
)
def test_secrets_are_redacted(line: str, secret: str, placeholder: str) -> None:
    redacted = redact(line)
    assert secret not in redacted
    assert placeholder in redacted


@pytest.mark.parametrize(
    "line",
    [
        "update 12345 handled in 8 ms",
        "Update id=987654321 is handled. Duration 905 ms by bot id=7012345678",
        "due 2026-01-31 09:30:00 and 2026-02-28T09:30:00+00:00",
        "dates 2026-01-31 2026-02-28",
        "REST API on http://127.0.0.1:8080 and [::1]:8443",
        "peer 192.168.100.200 port 5432",
        "took 1.234 s; 1234.5 ms; 120 requests; 3 of 20",
        "outbox worker-ab12 delivered wd_0123456789abcdef to we_42 (http_503)",
        "chat -1001234567890 left",
        "version v000007 of index 7",
        "KeyError: 'shop'",
    ],
)
def test_ordinary_numbers_are_kept(line: str) -> None:
    assert redact(line) == line


def test_percent_args_and_fstrings(capture: Capture) -> None:
    capture.logger.info("customer %s at %s", "anna@example.org", "+420 777 123 456")
    email = "bob@example.com"
    capture.logger.warning(f"could not mail {email} with {API_KEY}")
    first, second = capture.lines()
    assert first["message"] == "customer [email] at [phone]"
    assert second["message"] == "could not mail [email] with [token]"
    assert "example" not in capture.text


def test_extra_fields_are_kept_and_redacted(capture: Capture) -> None:
    capture.logger.info(
        "sent",
        extra={"shop": "webstore", "to": "anna@example.org", "n": 3, "obj": object()},
    )
    (line,) = capture.lines()
    assert line["shop"] == "webstore"
    assert line["to"] == "[email]"
    assert line["n"] == 3
    assert "obj" not in line  # not JSON: left out rather than guessed at


def test_exception_messages_are_redacted(capture: Capture) -> None:
    try:
        raise ValueError("no customer anna@example.org for +380501234567")
    except ValueError:
        capture.logger.exception("lookup failed")
    (line,) = capture.lines()
    assert line["message"] == "lookup failed"
    exc = str(line["exc"])
    assert "ValueError: no customer [email] for [phone]" in exc
    assert "Traceback" in exc
    assert "anna@" not in capture.text


def test_text_formatter_shows_redacted_traceback_and_request_id(text_capture: Capture) -> None:
    with request_context("upd-77", "please delete my account at Webstore"):
        try:
            raise RuntimeError("bad input: please delete my account at Webstore")
        except RuntimeError:
            text_capture.logger.error("handler failed", exc_info=True, stack_info=True)
    out = text_capture.text
    assert "[upd-77] handler failed" in out
    assert "RuntimeError: bad input: [text]" in out
    assert "delete my account" not in out
    assert out.count("Traceback") == 1  # not rendered a second time, unredacted


def test_registered_texts_are_redacted_inside_longer_strings(capture: Capture) -> None:
    text = "Is my order 4711 data shared with\nyour delivery partners?"
    with request_context("upd-1", text, "ok"):
        assert REQUEST_ID.get() == "upd-1"
        capture.logger.info("question %r got confidence 0.42", text)
        capture.logger.info("first line: [your delivery partners?]")
        capture.logger.info("ok then")  # too short to register
        capture.logger.info("json %s", json.dumps({"q": text}))
    capture.logger.info("after: Is my order 4711 data shared with")
    lines = capture.lines()
    assert lines[0]["message"] == "question '[text]' got confidence 0.42"
    assert lines[0]["request_id"] == "upd-1"
    assert lines[1]["message"] == "first line: [[text]]"
    assert lines[2]["message"] == "ok then"
    assert lines[3]["message"] == 'json {"q": "[text]"}'
    # The context ended: its id and its texts are gone.
    assert "request_id" not in lines[4]
    assert lines[4]["message"] == "after: Is my order 4711 data shared with"


async def test_registered_texts_reach_nested_tasks_and_threads(capture: Capture) -> None:
    async def inner() -> None:
        await asyncio.sleep(0)
        capture.logger.info("task saw: my secret question")
        await asyncio.to_thread(capture.logger.info, "thread saw: later free text")

    async def handle(request_id: str, text: str) -> None:
        with request_context(request_id, text):
            protect_texts("later free text")
            await asyncio.create_task(inner())

    await asyncio.gather(
        handle("upd-a", "my secret question"), handle("upd-b", "another customer's words")
    )
    messages = {(line["request_id"], line["message"]) for line in capture.lines()}
    assert ("upd-a", "task saw: [text]") in messages
    assert ("upd-a", "thread saw: [text]") in messages
    # The other update's texts are not this one's: nothing leaks between contexts.
    assert ("upd-b", "task saw: my secret question") in messages
    assert REQUEST_ID.get() is None


def test_json_lines_parse_with_utc_timestamps(capture: Capture) -> None:
    with request_context("req-9"):
        capture.logger.debug("one")
        capture.logger.error("two\nlines")
    lines = capture.lines()
    assert [line["message"] for line in lines] == ["one", "two\nlines"]
    assert all(str(line["ts"]).endswith("+00:00") for line in lines)
    assert lines[1]["level"] == "ERROR"
    assert lines[1]["request_id"] == "req-9"
    assert str(lines[0]["logger"]).startswith("test.observability")


def test_configure_logging_is_idempotent_and_redacts_every_logger() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    first, second = io.StringIO(), io.StringIO()
    try:
        configure_logging("DEBUG", "json", stream=first)
        handler = configure_logging("INFO", "json", stream=second)
        ours = [h for h in root.handlers if h not in before]
        assert ours == [handler]
        assert root.level == logging.INFO
        logging.getLogger("aiogram.event").info("token %s", BOT_TOKEN)
        line = json.loads(second.getvalue())
        assert line["message"] == "token [token]"
        assert line["logger"] == "aiogram.event"
        assert first.getvalue() == ""
    finally:
        for extra in [h for h in root.handlers if h not in before]:
            root.removeHandler(extra)
        root.setLevel(level)


def test_log_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (LogSettings().level, LogSettings().format) == ("INFO", "text")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    assert (LogSettings().level, LogSettings().format) == ("DEBUG", "json")
    monkeypatch.setenv("LOG_LEVEL", "loud")
    with pytest.raises(ValidationError):
        LogSettings()
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ValidationError):
        LogSettings()
