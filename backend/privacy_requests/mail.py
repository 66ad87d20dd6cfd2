"""Mail that carries one-time codes: the `MailSender` protocol, the console mail sink that
is the embedded default, and SMTP."""

from __future__ import annotations

import sys
from email.message import EmailMessage
from typing import Protocol, TextIO

import aiosmtplib

from backend.privacy_requests.errors import MailNotSentError
from backend.privacy_requests.mail_texts import code_letter
from backend.privacy_requests.settings import SmtpSettings


class MailSender(Protocol):
    @property
    def from_address(self) -> str:
        """The From of every message this sender sends."""

    async def send(self, message: EmailMessage) -> None:
        """Hand `message` over for delivery; MailNotSentError if that failed."""


class ConsoleMailSender:
    """The local mail sink: prints each message to the console, so that a new install
    can verify requests with no mail server at all."""

    def __init__(
        self, stream: TextIO | None = None, from_address: str = "privacy@localhost"
    ) -> None:
        self._stream = stream
        self._from_address = from_address

    @property
    def from_address(self) -> str:
        return self._from_address

    async def send(self, message: EmailMessage) -> None:
        stream = self._stream or sys.stdout
        # A terminal the operator reads, not a log: this is the whole point of the sink.
        # Headers and the decoded text, as a person reads it (not the transfer encoding).
        headers = "".join(
            f"{name}: {value}\n"
            for name, value in message.items()
            if name in ("From", "To", "Subject")
        )
        print(
            f"----- mail (local sink) -----\n{headers}\n{message.get_content()}"
            "-----------------------------",
            file=stream,
        )
        stream.flush()


class SmtpMailSender:
    def __init__(self, settings: SmtpSettings) -> None:
        if settings.host is None:
            raise ValueError("SMTP_HOST is not set")
        self._settings = settings

    @property
    def from_address(self) -> str:
        return self._settings.from_address

    async def send(self, message: EmailMessage) -> None:
        settings = self._settings
        password = settings.password.get_secret_value() if settings.password else None
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.host,
                port=settings.port,
                username=settings.user,
                password=password,
                use_tls=settings.security == "tls",
                start_tls=settings.security == "starttls",
                timeout=settings.timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            # The exception text may quote the recipient: keep only its type.
            raise MailNotSentError(
                f"the mail server did not take the message ({type(exc).__name__})"
            ) from None


def mail_sender_from_settings(settings: SmtpSettings) -> MailSender:
    """SMTP when SMTP_HOST is set, else the console sink."""
    return SmtpMailSender(settings) if settings.host else ConsoleMailSender()


def code_message(
    *,
    to: str,
    sender: str,
    shop: str,
    code: str,
    valid_minutes: int,
    language: str | None = None,
) -> EmailMessage:
    """The one-time code, in the customer's language (English when it has no letter)."""
    letter = code_letter(language, shop=shop, code=code, minutes=valid_minutes)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = letter.subject
    message.set_content(letter.body)
    return message
