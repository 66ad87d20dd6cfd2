"""Turning what the engine found into a Telegram message: quoted, cited, honest, short.

Telegram HTML: every piece of policy text is escaped; a message never exceeds 4096
characters (the quote is shortened at a sentence, never inside a tag).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from aiogram.utils.i18n import gettext as _

from bot.practice_texts import law_note, silent_sentence
from indexer.passages import Passage
from indexer.retriever import SearchResult

TELEGRAM_LIMIT = 4096
QUOTE_BUDGET = 3000


def language_name(code: str) -> str:
    names = {
        "en": _("English"),
        "cs": _("Czech"),
        "uk": _("Ukrainian"),
        "sv": _("Swedish"),
        "ru": _("Russian"),
        "de": _("German"),
        "pl": _("Polish"),
        "sk": _("Slovak"),
    }
    return names.get(code, code)


@dataclass(frozen=True)
class RenderedAnswer:
    text: str
    full_section_available: bool


def _citation(passage: Passage) -> str:
    return (
        f"<b>{escape(passage.section)}</b>\n<i>{escape(passage.document_title)}, "
        + escape(_("version {version}").format(version=passage.version))
        + "</i>"
    )


def _fit(sentences: list[str], budget: int) -> str:
    kept: list[str] = []
    for sentence in sentences:
        if len(" ".join([*kept, sentence])) > budget:
            break
        kept.append(sentence)
    if not kept:  # a single monstrous sentence: cut it at a word
        return sentences[0][: budget - 1].rsplit(" ", 1)[0] + "…" if sentences else ""
    return " ".join(kept) + (" …" if len(kept) < len(sentences) else "")


def _language_notice(passage: Passage, customer_language: str) -> str:
    if not passage.language or passage.language == customer_language:
        return ""
    return "\n" + escape(
        _("The policy says this in {language}; here is the passage as written:").format(
            language=language_name(passage.language)
        )
    )


def render_answer(result: SearchResult, quote: list[str], customer_language: str) -> RenderedAnswer:
    top = result.hits[0].passage
    shortened = len(quote) < len(top.sentences)
    body = _fit(quote, QUOTE_BUDGET)
    text = (
        _citation(top)
        + _language_notice(top, customer_language)
        + f"\n<blockquote>{escape(body)}</blockquote>"
    )
    others = [hit.passage for hit in result.hits[1:3] if hit.passage.section != top.section]
    if others:
        text += (
            "\n"
            + escape(_("See also:"))
            + " "
            + ", ".join(f"<i>{escape(p.section)}</i>" for p in others[:2])
        )
    return RenderedAnswer(text[:TELEGRAM_LIMIT], full_section_available=shortened)


def render_silent(result: SearchResult, shop_name: str, contact_email: str) -> str:
    """The policy says nothing on the practice asked about: say so, what the law gives the
    customer anyway, and whom to ask; quote nothing as if it were the answer."""
    practice = result.practice.practice
    text = escape(silent_sentence(practice, shop_name))
    note = law_note(practice)
    if note:
        text += " " + escape(note)
    text += "\n\n" + escape(
        _("You can ask a person from the shop, or write to {email}.").format(email=contact_email)
    )
    return text[:TELEGRAM_LIMIT]


def render_unanswered(result: SearchResult, customer_language: str, contact_email: str) -> str:
    text = escape(_("I could not find this in the shop's privacy policy, so I won't guess."))
    if result.hits:
        closest = result.hits[0].passage
        text += "\n\n" + escape(_("The closest section is:")) + "\n" + _citation(closest)
        text += _language_notice(closest, customer_language)
        text += f"\n<blockquote>{escape(_fit(list(closest.sentences), 600))}</blockquote>"
    text += "\n\n" + escape(
        _("You can ask a person from the shop, or write to {email}.").format(email=contact_email)
    )
    return text[:TELEGRAM_LIMIT]


def render_full_section(passages: list[Passage]) -> str:
    if not passages:
        return escape(_("This section is no longer in the current version of the policy."))
    header = _citation(passages[0])
    lines: list[str] = []
    for passage in passages:
        for line in passage.text.splitlines():
            if line not in lines:  # overlapping passages repeat a lead-in or a sentence
                lines.append(line)
    room = TELEGRAM_LIMIT - len(header) - 40
    kept: list[str] = []
    used = 0
    for line in lines:  # cut between lines, before escaping, so no entity is split
        cost = len(escape(line)) + 1
        if used + cost > room:
            kept.append("…")
            break
        kept.append(line)
        used += cost
    return f"{header}\n<blockquote>{escape(chr(10).join(kept))}</blockquote>"
