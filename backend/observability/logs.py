"""Log lines without personal data or secrets, as JSON or text, with the request id.

`request_context(request_id, *texts)` marks what is being handled: its id goes into every
line, and the texts (the customer's message, free text they typed) are redacted from
every line logged meanwhile, also in tasks and threads started from it (contextvars).
`RedactingFilter` sits on the root handler, so records of every library pass through it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any, Final, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogFormat = Literal["json", "text"]

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
_TEXTS: ContextVar[tuple[str, ...]] = ContextVar("redacted_texts", default=())

# Shorter texts ("ok", "yes") would redact half of every line.
MIN_TEXT_CHARS: Final = 4
TEXT, EMAIL, PHONE, TOKEN = "[text]", "[email]", "[phone]", "[token]"

# The attributes every LogRecord has; the others came with `extra=`.
_BARE_RECORD: Final = logging.LogRecord("", 0, "", 0, "", None, None)
_RECORD_FIELDS: Final = frozenset(vars(_BARE_RECORD)) | {
    "message",
    "asctime",
    "request_id",
    "request",
}


class LogSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    format: LogFormat = Field(default="text", validation_alias="LOG_FORMAT")

    @field_validator("level", mode="before")
    @classmethod
    def _known_level(cls, value: object) -> str:
        name = str(value).strip().upper()
        if name not in logging.getLevelNamesMapping():
            raise ValueError("one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return name

    @field_validator("format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


def _text_forms(text: str) -> set[str]:
    """The text as logged raw, inside a repr() or inside JSON, and each longer line of it."""
    forms = {text, repr(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    forms |= {json.dumps(text)[1:-1]}
    forms |= {line.strip() for line in text.splitlines()}
    return {form for form in forms if len(form) >= MIN_TEXT_CHARS}


@contextlib.contextmanager
def request_context(request_id: str, *texts: str) -> Iterator[None]:
    """While the block runs, log lines carry `request_id` and never show `texts`."""
    id_token = REQUEST_ID.set(request_id)
    texts_token = _TEXTS.set(_TEXTS.get())
    try:
        protect_texts(*texts)
        yield
    finally:
        _TEXTS.reset(texts_token)
        REQUEST_ID.reset(id_token)


def protect_texts(*texts: str) -> None:
    """Redact `texts` from log lines too, until the current `request_context` ends."""
    forms: set[str] = set()
    for text in texts:
        if text and len(text.strip()) >= MIN_TEXT_CHARS:
            forms |= _text_forms(text.strip())
    if forms:
        _TEXTS.set(tuple(sorted(set(_TEXTS.get()) | forms, key=len, reverse=True)))


def _phone(match: re.Match[str]) -> str:
    candidate = match.group(0)
    digits = sum(char.isdigit() for char in candidate)
    if candidate.startswith("+"):
        return PHONE if 7 <= digits <= 15 else candidate
    if candidate.startswith("("):
        return PHONE if 9 <= digits <= 15 else candidate
    # Grouped digits without a country code: only 9 or more, and never a date.
    if digits < 9 or _ISO_DATE.search(candidate):
        return candidate
    return PHONE


_ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
# Digits glued to a word, a dot, a colon or a slash belong to something else: a version,
# an IP address, a time, a port, a path.
_NOT_BEFORE = r"(?<![\w:/+\-])(?<!\d\.)"
_NOT_AFTER = r"(?![\w:/]|[.\-]\d)"
Replacement = str | Callable[[re.Match[str]], str]
_PATTERNS: Final[tuple[tuple[re.Pattern[str], Replacement], ...]] = (
    # URL userinfo: scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^/\s@]+@"), rf"\1:{TOKEN}@"),
    # Telegram bot tokens, also inside /bot<token>/sendMessage
    (re.compile(r"(?<!\d)\d{5,}:[A-Za-z0-9_-]{30,}"), TOKEN),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), f"Bearer {TOKEN}"),
    (re.compile(r"\bpha_[A-Za-z0-9_-]+"), TOKEN),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]+"), TOKEN),
    # secret_token=..., password: ..., "api_key": "..."
    (
        re.compile(
            r"(?i)\b([\w-]*(?:token|password|passwd|secret|key))"
            r"""(["']?\s*[=:]\s*["']?)(?!\[)[^\s&'",;)}\]]+"""
        ),
        rf"\1\2{TOKEN}",
    ),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), EMAIL),
    (re.compile(r"(?<![\w+])\+\d[\d \-()]{5,20}\d" + _NOT_AFTER), _phone),
    (re.compile(_NOT_BEFORE + r"\(\d{2,4}\)[ \-]?\d{3}[ \-]?\d{3,4}" + _NOT_AFTER), _phone),
    (re.compile(_NOT_BEFORE + r"\d{1,4}(?:[ \-]\d{2,4}){2,4}" + _NOT_AFTER), _phone),
)


def redact(text: str) -> str:
    """`text` without the current request's texts, tokens, e-mail addresses and phones."""
    for protected in _TEXTS.get():
        if protected in text:
            text = text.replace(protected, TEXT)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


class RedactingFilter(logging.Filter):
    """Renders each record's message, traceback and stack, and redacts them in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: log them anyway
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name not in _RECORD_FIELDS:
                setattr(record, name, _redact_value(value))
        if not hasattr(record, "request_id"):
            setattr(record, "request_id", REQUEST_ID.get())  # noqa: B010
        return True


def _request_id(record: logging.LogRecord) -> str | None:
    value = getattr(record, "request_id", None)
    return str(value) if value is not None else REQUEST_ID.get()


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message, request_id, exc, extra fields.
    Redacting is the handler's RedactingFilter's work, done once before formatting."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _request_id(record)
        if request_id is not None:
            entry["request_id"] = request_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        for name, value in record.__dict__.items():
            if name in _RECORD_FIELDS or name in entry:
                continue
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                continue
            entry[name] = value
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [request id] message`, the request id only when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(request)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = _request_id(record)
        setattr(record, "request", f" [{request_id}]" if request_id is not None else "")  # noqa: B010
        return super().format(record)


_HANDLER_MARK: Final = "privacy_assistant_handler"
QUIETED: Final = ("bm25s", "alembic")


def configure_logging(
    level: str = "INFO", fmt: LogFormat = "text", *, stream: IO[str] | None = None
) -> logging.Handler:
    """One redacting handler on the root logger (to stderr unless `stream`); calling it
    again replaces that handler rather than adding another."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, _HANDLER_MARK, False):
            root.removeHandler(existing)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Chatty libraries (bm25s sets its own logger to DEBUG; alembic logs each step of the
    # migrations every start runs) say only warnings, unless the app's level is DEBUG.
    for chatty in QUIETED:
        logging.getLogger(chatty).setLevel(
            logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
        )
    logging.captureWarnings(True)
    return handler
