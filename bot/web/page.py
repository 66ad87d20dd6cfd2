"""The chat page: its language, its texts and its security headers."""

from __future__ import annotations

import functools
import json
from html import escape
from pathlib import Path
from string import Template

from aiogram.utils.i18n import I18n
from aiohttp import web

from bot.settings import SUPPORTED_LANGUAGES
from indexer.shops import Shop

STATIC = Path(__file__).parent / "static"


def _(text: str) -> str:
    """Marks a text for the catalog; it is translated per page with the page's language."""
    return text


# The page's own words (the bot's messages come through the socket, already translated).
LABELS = {
    "title": _("Questions about your data"),
    "label_log": _("Conversation"),
    "label_message": _("Your message"),
    "placeholder": _("Ask about your data…"),
    "label_send": _("Send"),
}
TEXTS = {
    "connecting": _("Connecting…"),
    "reconnecting": _("Connection lost. Reconnecting…"),
    "offline": _("You are offline. Your message will be sent when you are back online."),
    "too_long": _("That message is too long. Please shorten it."),
    "too_fast": _("Too many messages at once. Please wait a moment."),
    "file": _("Download"),
    "you": _("You"),
    "assistant": _("Assistant"),
    "sending": _("Sending…"),
    "typing": _("The assistant is typing…"),
    "bad_frame": _("That could not be sent. Please reload the page."),
    "unavailable": _("The assistant is busy right now. Please send that again in a moment."),
}


@functools.cache
def static_bytes(name: str) -> bytes:
    """A file of the page, read once per process (they change only with the code)."""
    return (STATIC / name).read_bytes()


def page_language(request: web.Request, shop: Shop) -> str:
    """The page's `lang` (the widget passes its host page's), then the browser's
    Accept-Language, then the shop's default language, then English."""
    asked = request.query.get("lang", "").lower()[:2]
    if asked in SUPPORTED_LANGUAGES:
        return asked
    for language in accepted_languages(request.headers.get("Accept-Language", "")):
        if language in SUPPORTED_LANGUAGES:
            return language
    return shop.default_language if shop.default_language in SUPPORTED_LANGUAGES else "en"


def accepted_languages(header: str) -> list[str]:
    """Accept-Language's primary subtags, most wanted first."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _sep, parameters = part.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().split("-")[0].lower()
        if primary and primary != "*" and quality > 0:
            weighted.append((-quality, position, primary))
    return [language for _q, _p, language in sorted(weighted)]


def _attribute(value: str) -> str:
    return escape(value, quote=True)


def refusal(reason: str, language: str, i18n: I18n, nonce: str | None = None) -> dict[str, str]:
    """An error frame: why a frame was refused, said in the page's language; for a refused
    message, its nonce (so the page puts that text back in the box)."""
    frame = {
        "type": "error",
        "reason": reason,
        "text": i18n.gettext(TEXTS[reason], locale=language),
    }
    if nonce is not None:
        frame["nonce"] = nonce
    return frame


def render_page(shop: Shop, language: str, i18n: I18n, *, embed: bool, socket: str) -> str:
    template = Template(static_bytes("chat.html").decode("utf-8"))

    def translated(text: str) -> str:
        return i18n.gettext(text, locale=language)

    texts = {key: translated(text) for key, text in TEXTS.items()}
    # Inside <script type="application/json">: nothing may close the element early.
    texts_json = json.dumps(texts, ensure_ascii=False).replace("<", "\\u003c")
    values = {key: _attribute(translated(text)) for key, text in LABELS.items()}
    return template.substitute(
        values,
        lang=language,
        shop_name=_attribute(shop.name),
        shop_id=_attribute(shop.id),
        static="/chat/static",
        socket=_attribute(socket),
        embed="1" if embed else "0",
        texts=texts_json,
    )


def security_headers(frame_ancestors: list[str]) -> dict[str, str]:
    """A strict Content-Security-Policy: this host's own files only; framed only by this
    host and the shop's allowed origins."""
    ancestors = " ".join(["'self'", *frame_ancestors])
    policy = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {ancestors}"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
