"""The bot's own texts in seven languages: gettext catalogs, chosen per customer.

Catalogs live as `.po` files in bot/locales (what translators edit); they are compiled to
`.mo` at start-up into the var folder, so no binary file is committed and a fresh checkout
needs no build step.

A customer's language: the one chosen with /language, else the Telegram client's language
when the bot speaks it, else the language the message is written in, else English.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aiogram.types import CallbackQuery, Message, TelegramObject, User
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n.middleware import I18nMiddleware
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.settings import SUPPORTED_LANGUAGES
from indexer.language import language_scores

LOCALES = Path(__file__).parent / "locales"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"
MIN_TEXT_FOR_DETECTION = 12
MIN_CONFIDENCE = 0.6


def compile_catalogs(target: Path, source: Path = LOCALES) -> Path:
    """Compile every `<lang>/LC_MESSAGES/messages.po` under `source` into `target`."""
    for po_path in sorted(source.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        language = po_path.parent.parent.name
        mo_path = target / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        # Named for this process: two processes compiling at once must not share a draft.
        temporary = mo_path.with_suffix(f".{os.getpid()}.tmp")
        with temporary.open("wb") as handle:
            write_mo(handle, catalog)
        temporary.replace(mo_path)
    return target


def create_i18n(compiled: Path) -> I18n:
    return I18n(path=compile_catalogs(compiled), default_locale=DEFAULT_LANGUAGE, domain=DOMAIN)


def customer_language(
    chosen: str | None, user: User | None, text: str | None, fallback: str = DEFAULT_LANGUAGE
) -> str:
    if chosen in SUPPORTED_LANGUAGES:
        return chosen
    telegram = (user.language_code or "")[:2].lower() if user else ""
    if telegram in SUPPORTED_LANGUAGES:
        return telegram
    if text and len(text) >= MIN_TEXT_FOR_DETECTION and not text.startswith("/"):
        # A short question is easy to misread ("what do brake pads cost?" scores German
        # 0.48): switch the customer's language only on a confident reading.
        scores = language_scores(text)
        written, confidence = next(iter(scores.items()), ("", 0.0))
        if written in SUPPORTED_LANGUAGES and confidence >= MIN_CONFIDENCE:
            return written
    return fallback


class CustomerLanguageMiddleware(I18nMiddleware):
    """Sets the gettext locale for each update from the customer's context."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        customer = data.get("customer")
        chosen = customer.language if customer is not None else None
        text = event.text if isinstance(event, Message) else None
        user = event.from_user if isinstance(event, Message | CallbackQuery) else None
        return customer_language(chosen, user, text)
