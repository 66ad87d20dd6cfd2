"""The bot's own texts in seven languages: gettext catalogs, chosen per customer.

Catalogs live as `.po` files in bot/locales (what translators edit); they are compiled to
`.mo` at start-up into the var folder, so no binary file is committed and a fresh checkout
needs no build step.

A conversation's language: the one chosen with /language; else the one the customer has
been writing in (evidence gathered over their recent messages, weighted by length, so one
short message that looks like another language never flips it); else the Telegram client's
language when the bot speaks it; else the shop's default language; else English.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiogram.fsm.context import FSMContext
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


# The written language: each message adds its language scores weighted by its length (full
# weight from FULL_WEIGHT_CHARS), earlier evidence fades by DECAY a full message (less for a
# shorter one); a language counts once its evidence reaches ESTABLISHED and leads the next by
# MARGIN. Evidence saturates at CEILING: without it, a long Russian conversation piled up
# 2.5 of evidence and the customer's first full sentence in Ukrainian was still answered in
# Russian; now one full sentence in another language (28 characters or more) turns the
# conversation, while a shorter one ("ok danke", "cookies?", or "Brake pads for a Skoda?",
# which reads Swedish to the detector) does not.
FULL_WEIGHT_CHARS = 30
DECAY = 0.6
ESTABLISHED = 0.8
MARGIN = 0.3
CEILING = 1.0
# A language the bot does not speak counts for the one of the seven its readers read and the
# detector takes it for: "kan ni rätta min adress i mitt konto?" reads 0.76 Norwegian and
# 0.16 Swedish, and was answered in the Telegram client's English.
NEIGHBOURS = {"sk": "cs", "nb": "sv", "da": "sv"}
# Kept in the flow storage (Redis for replicas) beside, not inside, a flow's own data.
WRITTEN_DESTINY = "written_language"


# What says nothing about a language: addresses, links, codes and other figures.
_NOT_WORDS = re.compile(r"\S+@\S+|https?://\S+|www\.\S+|[\d\W_]+")


def with_message(evidence: dict[str, float], text: str | None) -> dict[str, float]:
    """The evidence of the customer's written language after one more message. A command,
    an e-mail address or a code leaves it as it was."""
    if not text or text.startswith("/"):
        return evidence
    words = " ".join(_NOT_WORDS.sub(" ", text).split())
    if len(words) < 2:
        return evidence
    text = words
    weight = min(1.0, len(text) / FULL_WEIGHT_CHARS)
    # A short message adds little and takes little away.
    fade = 1.0 - (1.0 - DECAY) * weight
    updated = {language: value * fade for language, value in evidence.items()}
    for detected, confidence in language_scores(text).items():
        language = NEIGHBOURS.get(detected, detected)
        if language in SUPPORTED_LANGUAGES:
            updated[language] = min(CEILING, updated.get(language, 0.0) + weight * confidence)
    return {language: round(value, 4) for language, value in updated.items() if value >= 0.01}


def written_language(evidence: dict[str, float], current: str | None = None) -> str | None:
    """The language the customer has been writing in: a language whose evidence is clear,
    else the one established before (`current`) until another one is."""
    ranked = sorted(evidence.values(), reverse=True)
    if not ranked or ranked[0] < ESTABLISHED:
        return current
    if len(ranked) > 1 and ranked[0] - ranked[1] < MARGIN:
        return current
    return max(evidence, key=lambda language: evidence[language])


def customer_language(
    chosen: str | None,
    user: User | None,
    written: str | None = None,
    fallback: str = DEFAULT_LANGUAGE,
) -> str:
    if chosen in SUPPORTED_LANGUAGES:
        return chosen
    if written in SUPPORTED_LANGUAGES:
        return written
    telegram = (user.language_code or "")[:2].lower() if user else ""
    if telegram in SUPPORTED_LANGUAGES:
        return telegram
    return fallback if fallback in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE


def written_state(state: FSMContext) -> FSMContext:
    """The customer's written-language evidence, stored under a destiny of its own so that a
    flow's `set_data` never wipes it."""
    return FSMContext(state.storage, replace(state.key, destiny=WRITTEN_DESTINY))


class CustomerLanguageMiddleware(I18nMiddleware):
    """Sets the gettext locale for each update from the conversation's language."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        customer = data.get("customer")
        chosen = customer.language if customer is not None else None
        user = event.from_user if isinstance(event, Message | CallbackQuery) else None
        written: str | None = None
        state: FSMContext | None = data.get("state")
        if state is not None and chosen is None:
            stored = written_state(state)
            kept = await stored.get_data()
            evidence = dict(kept.get("evidence", {}))
            current = kept.get("language")
            if isinstance(event, Message) and event.text:
                evidence = with_message(evidence, event.text)
            written = written_language(evidence, current)
            if evidence != kept.get("evidence", {}) or written != current:
                await stored.set_data({"evidence": evidence, "language": written})
        fallback = DEFAULT_LANGUAGE
        services = data.get("services")
        if customer is not None and customer.shop_id and services is not None:
            shop = services.shops.resolve(customer.shop_id)
            fallback = shop.default_language if shop is not None else DEFAULT_LANGUAGE
        return customer_language(chosen, user, written, fallback)
