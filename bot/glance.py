"""The policy at a glance: one line per practice of the taxonomy, in its order, in the
customer's language. A covered practice shows the sections that cover it and gets a
button that quotes the policy on it; the others say plainly that the policy does not
cover them. Coverage is the indexer's (indexer.coverage), of the index version the bot
serves, so the card agrees with what the bot answers.

Telegram HTML: titles of the policy are escaped; the card stays under 4096 characters
(fewer section titles a line when a policy has very long ones) and 100 buttons (one per
covered practice, two a row).
"""

from __future__ import annotations

import asyncio
from html import escape

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.answers import TELEGRAM_LIMIT, language_name, render_full_section
from bot.keyboards import glance_keyboard
from bot.practice_texts import practice_label, practice_title, silent_sentence
from indexer.coverage import PolicyCoverage, ShopNotInIndexError, version_coverage
from indexer.retriever import Retriever
from indexer.shops import Shop

SECTIONS_PER_LINE = 2
SECTION_CHARS = 60


async def shop_coverage(retriever: Retriever, shop_id: str) -> PolicyCoverage | None:
    """The coverage of the shop's policy in the index version being served; None when the
    shop has no policy in it. Read once per version (off the event loop), then kept."""
    try:
        return await asyncio.to_thread(
            version_coverage, retriever.index_dir, retriever.manifest.name, shop_id
        )
    except (ShopNotInIndexError, FileNotFoundError):
        return None


def _shortened(title: str) -> str:
    return title if len(title) <= SECTION_CHARS else title[: SECTION_CHARS - 1].rstrip() + "…"


def _card(coverage: PolicyCoverage, shop_name: str, language: str, sections: int) -> str:
    lines = [
        "<b>" + escape(_("{shop}'s privacy policy at a glance").format(shop=shop_name)) + "</b>"
    ]
    for practice in coverage.practices:
        title = escape(practice_title(practice.practice))
        if not practice.covered:
            lines.append(f"✗ {title}: " + escape(_("not covered by this policy")))
            continue
        found = practice.sections(language)
        shown = ", ".join(f"<i>{escape(_shortened(s))}</i>" for s in found[:sections])
        more = f" +{len(found) - sections}" if len(found) > sections else ""
        lines.append(f"✓ <b>{title}</b>" + (f": {shown}{more}" if shown else ""))
    if coverage.covered:
        lines.append("\n" + escape(_("Tap a topic below to read what the policy says about it.")))
    return "\n".join(lines)


def render_glance(
    coverage: PolicyCoverage, shop_name: str, language: str
) -> tuple[str, InlineKeyboardMarkup]:
    """The card and its buttons, in the current locale."""
    for sections in range(SECTIONS_PER_LINE, -1, -1):
        text = _card(coverage, shop_name, language, sections)
        if len(text) <= TELEGRAM_LIMIT:
            break
    topics = [
        (place, practice_label(practice.practice))
        for place, practice in enumerate(coverage.practices)
        if practice.covered
    ]
    return text[:TELEGRAM_LIMIT], glance_keyboard(coverage.shop_id, topics)


def render_practice_quote(
    coverage: PolicyCoverage, place: int, shop: Shop, language: str
) -> str | None:
    """What the policy says on the practice at `place` of the card: its best passage,
    quoted with its section and source (None: no such place, a forged button)."""
    if not 0 <= place < len(coverage.practices):
        return None
    practice = coverage.practices[place]
    passage = practice.quote(language)
    if passage is None:  # covered when the card was sent, no longer
        return escape(silent_sentence(practice.practice, shop.name))
    header = "✓ <b>" + escape(practice_title(practice.practice)) + "</b> · " + escape(shop.name)
    if passage.language and passage.language != language:
        header += "\n" + escape(
            _("The policy says this in {language}; here is the passage as written:").format(
                language=language_name(passage.language)
            )
        )
    quote = render_full_section([passage], shop.contact_email)
    text = header + "\n" + quote
    # A passage long enough to fill a message alone keeps its own citation, without ours.
    return text if len(text) <= TELEGRAM_LIMIT else quote
