"""A real SMTP server on loopback (aiosmtpd) for the tests of the verification mail: it
keeps every message it takes, and on the test's word refuses mail with a reply of its
choice or holds each message until the test releases it."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

# A held message is taken anyway after this long, so that a test of code that waits for the
# mail inside a transaction fails on its assertions instead of hanging. The client's own
# timeout must be longer (HOLDING_CLIENT_TIMEOUT).
HOLD_GUARD_SECONDS = 20.0
HOLDING_CLIENT_TIMEOUT = 60.0


class Mailbox:
    """The server's side: what it received, and how it answers the next messages."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []  # each message's envelope recipients
        self._lock = threading.Lock()
        self._refusal: str | None = None
        self._gate: threading.Event | None = None
        self._holding = threading.Event()

    def refuse(self, reply: str | None) -> None:
        """Answer DATA with `reply` (say "451 4.3.0 Try again later"); None takes mail again."""
        self._refusal = reply

    def hold(self) -> None:
        """Keep each message's DATA unanswered until `release` (or the guard) lets it go."""
        self._gate = threading.Event()
        self._holding.clear()

    async def holding(self) -> None:
        """Return once a message is being held."""
        if not await asyncio.to_thread(self._holding.wait, HOLD_GUARD_SECONDS):
            raise AssertionError("no message reached the mail server")

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()
        self._gate = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self._refusal is not None:
            return self._refusal
        gate = self._gate
        if gate is not None:
            self._holding.set()
            await asyncio.get_running_loop().run_in_executor(None, gate.wait, HOLD_GUARD_SECONDS)
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"

    def sent_to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    def last_code(self) -> str:
        with self._lock:
            return _code_in(self.messages[-1])

    async def code_for(self, address: str, count: int = 1) -> str:
        """The code in the `count`-th message to `address`, waiting for it to arrive."""
        for _ in range(200):
            received = self.sent_to(address)
            if len(received) >= count:
                return _code_in(received[count - 1])
            await asyncio.sleep(0.05)
        raise AssertionError(f"no message {count} to {address}")


def _code_in(message: EmailMessage) -> str:
    body = message.get_content()
    found = re.search(r"\b(\d{6})\b", body)
    assert found, body
    return found.group(1)


def free_port() -> int:
    with socket.socket() as probe:  # aiosmtpd cannot report an ephemeral port it was given
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def mail_server() -> Iterator[tuple[Mailbox, int]]:
    """A running server on a free loopback port: its mailbox and the port."""
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        box.release()
        controller.stop()
