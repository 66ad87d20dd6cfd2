"""What the bot sends, as the frames of the web chat's socket (see PROTOCOL.md).

Telegram's HTML subset goes through an allow-list sanitizer (nh3, the Ammonia library):
whatever a passage, an operator or a shop's text holds, the page gets only the tags
Telegram itself would render, and links that open elsewhere without the page's context.
"""

from __future__ import annotations

import html
import re
from typing import Any

import nh3
from aiogram.client.default import Default
from aiogram.types import InlineKeyboardMarkup, MessageEntity
from aiogram.utils.text_decorations import html_decoration

# Telegram's formatting tags, less the ones the page has no use for (spoilers, custom
# emoji); `tg-*` tags are unwrapped, their text kept.
ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre"}
ALLOWED_TAGS |= {"blockquote", "a", "br"}
ALLOWED_ATTRIBUTES = {"a": {"href"}}
URL_SCHEMES = {"http", "https", "mailto"}
Buttons = list[list[dict[str, str]]]


def safe_html(text: str) -> str:
    """Telegram HTML as the page may show it: allowed tags only, links with rel set."""
    return nh3.clean(
        text,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def message_html(
    text: str, parse_mode: str | Default | None, entities: list[MessageEntity] | None = None
) -> str:
    """A sent text in any of the forms the Bot API takes, as safe HTML: HTML (the bot's
    default), plain text with entities (an operator's formatted reply), or plain text."""
    if entities:
        return safe_html(html_decoration.unparse(text, entities))
    if parse_mode is None or (isinstance(parse_mode, str) and parse_mode.lower() != "html"):
        return html.escape(text, quote=False)
    return safe_html(text)


def plain_text(safe: str) -> str:
    """The text of safe HTML, as Telegram would report it in the sent Message."""
    return html.unescape(re.sub(r"<[^>]+>", "", safe))


def buttons(markup: Any) -> Buttons:
    """Rows of buttons with their callback data; a button of another kind (a link) gets
    its URL as `url`."""
    if not isinstance(markup, InlineKeyboardMarkup):
        return []
    rows: Buttons = []
    for row in markup.inline_keyboard:
        cells = []
        for button in row:
            if button.callback_data is not None:
                cells.append({"text": button.text, "data": button.callback_data})
            elif button.url is not None:
                cells.append({"text": button.text, "url": button.url})
        if cells:
            rows.append(cells)
    return rows


def bot_message(safe: str, rows: Buttons, file: dict[str, str] | None = None) -> dict[str, Any]:
    return {"type": "message", "from": "bot", "html": safe, "buttons": rows, "file": file}


def customer_message(text: str, nonce: str) -> dict[str, Any]:
    return {"type": "message", "from": "customer", "text": text, "nonce": nonce}
