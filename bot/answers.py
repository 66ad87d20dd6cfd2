"""Turning what the engine found into a Telegram message: quoted, cited, honest, short.

Telegram HTML: every piece of policy text is escaped; a message never exceeds 4096
characters (the quote is shortened at a sentence, never inside a tag).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from aiogram.utils.i18n import gettext as _

from bot.practice_texts import law_note, practice_title, silent_sentence
from indexer.figures import figures
from indexer.hidden_emails import count_hidden_emails, hides_others_address, show_contact_email
from indexer.passages import Passage
from indexer.retriever import AlsoQuoted, SearchResult
from indexer.topics import gist_practice

TELEGRAM_LIMIT = 4096
QUOTE_BUDGET = 3000
ALSO_BUDGET = 800  # the second passage's quote (Retriever.also_quote)


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


def _citation(passage: Passage, original: Passage | None = None) -> str:
    """The section and the document version shown; for a declared translation, also the
    original it was made from (the text that binds the shop)."""
    source = f"{passage.document_title}, " + _("version {version}").format(version=passage.version)
    if original is not None:
        source += "; " + _("translated from {title}, version {version}").format(
            title=original.document_title, version=original.version
        )
    return f"<b>{escape(passage.section)}</b>\n<i>{escape(source)}</i>"


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


def _as_shown(sentences: Sequence[str], contact_email: str | None) -> tuple[list[str], str]:
    """The sentences as the customer sees them, and the note that says what was changed: an
    address the policy's web page hid ("[email protected]") is shown as the shop's own
    contact address, unless the sentence gives it as another company's."""
    if not contact_email or not any(count_hidden_emails(s) for s in sentences):
        return list(sentences), ""
    elsewhere = _("(an address the policy's text does not give)")
    shown = [show_contact_email(s, contact_email, elsewhere) for s in sentences]
    others = [hides_others_address(s) for s in sentences]
    notes = []
    if any(
        count_hidden_emails(s) and not other for s, other in zip(sentences, others, strict=True)
    ):
        notes.append(
            _(
                "The policy's text hides this e-mail address; shown instead is the shop's"
                " contact address."
            )
        )
    if any(others):
        notes.append(
            _(
                "The policy's text also hides another company's e-mail address; it is not"
                " the shop's, so it is not shown."
            )
        )
    return shown, "".join(f"\n<i>{escape(note)}</i>" for note in notes)


def _section_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _see_also(top: Passage, result: SearchResult, quoted: Passage | None = None) -> list[str]:
    """Up to two other sections among the hits, each name once, other than those quoted. A
    passage outside any section (a preamble, the foot line "Last update: January 2024")
    carries the document's title, which points the customer nowhere: it is not named."""
    seen = {_section_key(p.section) for p in (top, quoted) if p is not None}
    names: list[str] = []
    for hit in result.hits[1:]:
        section = _section_key(hit.passage.section)
        if section not in seen and section != _section_key(hit.passage.document_title):
            seen.add(section)
            names.append(hit.passage.section)
    return names[:2]


def _gist(passage: Passage, quote: list[str], asked: str, customer_language: str) -> str:
    """For a quote in a language the customer did not write in: one line in theirs on what
    the quoted part is about and the figures it states, verbatim; "" otherwise."""
    if not passage.language or passage.language == customer_language:
        return ""
    practice = gist_practice(passage.topics, asked)
    found = figures(" ".join(quote))
    listed = ", ".join(found)
    if practice and found:
        line = _("In short, this part of the policy is about: {topic}. It states: {figures}.")
    elif practice:
        line = _("In short, this part of the policy is about: {topic}.")
    elif found:
        line = _("This part of the policy states: {figures}.")
    else:
        return ""
    topic = practice_title(practice) if practice else ""
    return escape(line.format(topic=topic, figures=listed)) + "\n\n"


def _also(top: Passage, also: AlsoQuoted, customer_language: str, contact_email: str | None) -> str:
    """The second passage quoted after the first, when the two score about the same."""
    passage = also.hit.passage
    shown, note = _as_shown(also.sentences, contact_email)
    if _section_key(passage.section) == _section_key(top.section):
        lead = _("The policy also says, in the same section:")
    else:
        lead = _("The policy also says, under “{section}”:").format(section=passage.section)
    notice = (
        _language_notice(passage, customer_language) if passage.language != top.language else ""
    )
    return (
        f"\n{escape(lead)}"
        + notice
        + f"\n<blockquote>{escape(_fit(shown, ALSO_BUDGET))}</blockquote>"
        + note
    )


def render_answer(
    result: SearchResult,
    quote: list[str],
    customer_language: str,
    contact_email: str | None = None,
    also: AlsoQuoted | None = None,
) -> RenderedAnswer:
    top = result.hits[0].passage
    shown, note = _as_shown(quote, contact_email)
    body = _fit(shown, QUOTE_BUDGET)
    text = (
        _gist(top, shown, result.practice.practice, customer_language)
        + _citation(top, result.hits[0].original)
        + _language_notice(top, customer_language)
        + f"\n<blockquote>{escape(body)}</blockquote>"
        + note
    )
    if also is not None and also.sentences:
        text += _also(top, also, customer_language, contact_email)
    others = _see_also(top, result, also.hit.passage if also is not None else None)
    if others:
        text += (
            "\n"
            + escape(_("See also:"))
            + " "
            + ", ".join(f"<i>{escape(section)}</i>" for section in others)
        )
    return RenderedAnswer(text[:TELEGRAM_LIMIT])


def render_silent(
    result: SearchResult,
    shop_name: str,
    contact_email: str,
    quote: Sequence[str] = (),
    customer_language: str = "",
) -> str:
    """The policy says nothing on the practice asked about: say so, what the law gives the
    customer anyway, and whom to ask; quote nothing as if it were the answer. Silent on a
    right or a detail of a practice it does cover, the policy's passage on that practice
    follows, after the silence and under its own heading (SearchResult.beside_silence)."""
    # The right or detail the policy never names, else the practice it says nothing of.
    topic = result.silent_on or result.practice.practice
    text = escape(silent_sentence(topic, shop_name))
    note = law_note(topic)
    if note:
        text += " " + escape(note)
    beside = result.beside_silence
    if beside is not None and quote:
        shown, hidden_note = _as_shown(quote, contact_email)
        text += "\n\n" + escape(_("What the policy does say on this topic:"))
        text += "\n" + _citation(beside.passage, beside.original)
        text += _language_notice(beside.passage, customer_language)
        text += f"\n<blockquote>{escape(_fit(shown, 600))}</blockquote>" + hidden_note
    text += "\n\n" + escape(
        _("You can ask a person from the shop, or write to {email}.").format(email=contact_email)
    )
    return text[:TELEGRAM_LIMIT]


def render_unanswered(result: SearchResult, customer_language: str, contact_email: str) -> str:
    text = escape(_("I could not find this in the shop's privacy policy, so I won't guess."))
    # A passage next to a question about something else (brake pads, delivery) only
    # puzzles: the closest section is offered for questions about privacy alone.
    if result.hits and result.practice.about_privacy:
        closest = result.hits[0].passage
        shown, note = _as_shown(closest.sentences, contact_email)
        text += "\n\n" + escape(_("The closest section is:")) + "\n" + _citation(closest)
        text += _language_notice(closest, customer_language)
        text += f"\n<blockquote>{escape(_fit(shown, 600))}</blockquote>" + note
    text += "\n\n" + escape(
        _("You can ask a person from the shop, or write to {email}.").format(email=contact_email)
    )
    return text[:TELEGRAM_LIMIT]


def render_full_section(passages: list[Passage], contact_email: str | None = None) -> str:
    if not passages:
        return escape(_("This section is no longer in the current version of the policy."))
    header = _citation(passages[0])
    lines: list[str] = []
    for passage in passages:
        for line in passage.text.splitlines():
            if line not in lines:  # overlapping passages repeat a lead-in or a sentence
                lines.append(line)
    lines, note = _as_shown(lines, contact_email)
    room = TELEGRAM_LIMIT - len(header) - len(note) - 40
    kept: list[str] = []
    used = 0
    for line in lines:  # cut between lines, before escaping, so no entity is split
        cost = len(escape(line)) + 1
        if used + cost > room:
            kept.append("…")
            break
        kept.append(line)
        used += cost
    return f"{header}\n<blockquote>{escape(chr(10).join(kept))}</blockquote>{note}"
