"""Who a web visitor is: an anonymous id in a signed cookie, and the chat id it has in the
bot, one per shop.

A visitor's chat id lies above Telegram's range (Telegram's user ids have at most 52
significant bits), so every part of the bot that sends to a chat id reaches a web visitor
through the web door and a Telegram customer through Telegram, and both are pseudonymised
the same way (backend.pseudonyms) wherever a customer is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

COOKIE_NAME = "privacy_visitor"
WEB_CHAT_BASE = 1 << 52  # the first id no Telegram user can have
WEB_CHAT_SPAN = 1 << 52  # web chat ids fill [2**52, 2**53): exact in JSON numbers too


def is_web_chat(chat_id: int | str | None) -> bool:
    return isinstance(chat_id, int) and WEB_CHAT_BASE <= chat_id < WEB_CHAT_BASE + WEB_CHAT_SPAN


class VisitorCookies:
    """Issues and reads the visitor cookie: `<id>.<signature>`, the id random (128 bits),
    the signature an HMAC under a key derived from the deployment's pseudonym key."""

    def __init__(self, pseudonym_key: bytes) -> None:
        self._key = hmac.new(pseudonym_key, b"web-visitor-cookie", hashlib.sha256).digest()

    def _sign(self, visitor: str) -> str:
        digest = hmac.new(self._key, visitor.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def new(self) -> tuple[str, str]:
        """A new visitor: (their id, the cookie value)."""
        visitor = secrets.token_urlsafe(16)
        return visitor, f"{visitor}.{self._sign(visitor)}"

    def visitor(self, cookie: str | None) -> str | None:
        """The visitor id of a cookie with a valid signature; None for anything else."""
        if not cookie or len(cookie) > 100 or cookie.count(".") != 1:
            return None
        visitor, signature = cookie.split(".")
        if not visitor or not hmac.compare_digest(signature, self._sign(visitor)):
            return None
        return visitor

    def chat_id(self, visitor: str, shop_id: str) -> int:
        """The visitor's chat with one shop: each shop's page has its own conversation."""
        digest = hmac.new(self._key, f"chat:{visitor}:{shop_id}".encode(), hashlib.sha256)
        return WEB_CHAT_BASE + int.from_bytes(digest.digest()[:8], "big") % WEB_CHAT_SPAN
