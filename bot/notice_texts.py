"""What a customer is told in their chat when the shop (or time) changed their request.

Every text is Telegram HTML. Whatever the shop typed (a reason, a system's name, a legal
basis) is escaped and shown verbatim: the customer must see the shop's own words. The
texts follow the gettext locale the caller set (see `bot.notices`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from html import escape, unescape
from typing import Any

from aiogram.utils.i18n import gettext as _

from backend.models import PrivacyRequest
from bot.request_texts import date_and_time, due_date, kind_name, long_date, request_number
from indexer.shops import Shop

TELEGRAM_LIMIT = 4096
TAG = re.compile(r"<[^>]+>")


def shop_name(request: PrivacyRequest, shop: Shop | None) -> str:
    return escape(shop.name if shop else request.shop_id)


def contact(request: PrivacyRequest, shop: Shop | None) -> str:
    """Where the customer writes to the shop (a shop gone from the directory: its id)."""
    return escape(shop.contact_email if shop else request.shop_id)


def framed(request: PrivacyRequest, shop: Shop | None, *paragraphs: str) -> str:
    """The notice with its heading (which request, at which shop) and its number."""
    heading = f"<b>{escape(kind_name(request.kind))} · {shop_name(request, shop)}</b>"
    return "\n\n".join((heading, *paragraphs, request_number(request.id)))


def quoted(text: str | None) -> str:
    return f"<blockquote>{escape(text or '')}</blockquote>"


def render_notice(event: str, request: PrivacyRequest, shop: Shop | None) -> str:
    """The notice of `event`, for every event but an access request's completion, whose
    message carries the export (see `export_ready` and friends)."""
    shop_text = shop_name(request, shop)
    if event == "verified":
        return framed(request, shop, _verified(request, shop_text))
    if event == "in_progress":
        return framed(request, shop, _in_progress(request, shop_text))
    if event == "extended":
        return framed(request, shop, *_extended(request, shop_text))
    if event == "denied":
        return framed(request, shop, *_denied(request, shop_text))
    if event == "canceled":
        text = _(
            "{shop} has canceled your request; it will not be processed. If you did not "
            "expect this, write to {email}."
        )
        return framed(request, shop, text.format(shop=shop_text, email=contact(request, shop)))
    if event == "expired":
        return framed(request, shop, _expired(request, shop))
    if event == "completed":
        return framed(request, shop, *_completed(request, shop_text))
    raise ValueError(f"no notice for {event!r}")


def _verified(request: PrivacyRequest, shop_text: str) -> str:
    if request.kind == "unsubscribe":
        return _(
            "{shop} has confirmed that the request is yours: you will receive no more "
            "marketing from it."
        ).format(shop=shop_text)
    text = _("{shop} has confirmed that the request is yours.").format(shop=shop_text)
    if request.deadline is not None:
        text += " " + _("It must be done by {date}.").format(date=due_date(request.deadline))
    return text


def _in_progress(request: PrivacyRequest, shop_text: str) -> str:
    text = _("{shop} has started working on your request.").format(shop=shop_text)
    if request.deadline is not None:
        text += " " + _("It must be done by {date}.").format(date=due_date(request.deadline))
    return text


def _extended(request: PrivacyRequest, shop_text: str) -> list[str]:
    text = _("{shop} has extended the deadline of your request.").format(shop=shop_text)
    if request.deadline is not None:
        text += " " + _("The new deadline is {date}.").format(date=due_date(request.deadline))
    months = _("Months added in total: {months}.").format(months=request.extension_months)
    law = _(
        "The law allows this for complex or numerous requests, by at most two further "
        "months. The reason {shop} gives:"
    ).format(shop=shop_text)
    return [text, months + " " + law + "\n" + quoted(request.extension_reason)]


def denial_reason(code: str | None) -> str | None:
    """The reason code in plain words; None for "other", which the shop's text explains."""
    reasons = {
        "identity_not_verified": _("the shop could not confirm that the request is really yours"),
        "no_customer_match": _("the shop found no data about you"),
        "legal_retention": _("the law obliges the shop to keep the data"),
        "manifestly_excessive": _(
            "the shop considers the request manifestly unfounded or excessive"
        ),
    }
    return reasons.get(code or "")


def _denied(request: PrivacyRequest, shop_text: str) -> list[str]:
    refused = _("{shop} has refused your request.").format(shop=shop_text)
    reason = denial_reason(request.denial_reason_code)
    if reason is not None:
        refused += " " + _("Reason: {reason}.").format(reason=reason)
    words = _("In the shop's words:") + "\n" + quoted(request.denial_reason_text)
    complain = _(
        "If you think the refusal is wrong, you can complain to a data protection authority "
        "(in the EU, the one where you live or work, or where the shop is established) "
        "or go to court."
    )
    return [refused, words, complain]


def _expired(request: PrivacyRequest, shop: Shop | None) -> str:
    if request.verification == "shop":
        text = _(
            "Your request has expired: {shop} could not confirm in time that it is really "
            "you, so it will not be processed. You can start it again from the menu (/start) "
            "or write to {email}."
        )
        return text.format(shop=shop_name(request, shop), email=contact(request, shop))
    return _(
        "Your request has expired: the e-mail code was not entered in time, so it will not be "
        "processed. You can start it again from the menu (/start)."
    )


def _completed(request: PrivacyRequest, shop_text: str) -> list[str]:
    if request.kind == "unsubscribe":
        return [
            _(
                "Done: {shop} will send you no more marketing messages. Your objection is on "
                "record and keeps being honoured."
            ).format(shop=shop_text)
        ]
    if request.kind == "deletion":
        return _deletion_done(request, shop_text)
    return [_("{shop} has completed your request.").format(shop=shop_text)]


def _deletion_done(request: PrivacyRequest, shop_text: str) -> list[str]:
    outcomes = list(request.outcomes or [])
    done = _("{shop} has completed the deletion.").format(shop=shop_text)
    if not outcomes:
        return [done]
    lines = [outcome_line(outcome) for outcome in outcomes]
    paragraphs = [done + " " + _("What each of its systems did:") + "\n" + "\n".join(lines)]
    if any(outcome.get("outcome") == "retained" for outcome in outcomes):
        paragraphs.append(_("The data kept is deleted by the date given."))
    return paragraphs


def outcome_line(outcome: dict[str, Any]) -> str:
    """One system's outcome in plain words (its name and legal basis as the shop typed them)."""
    system = escape(str(outcome.get("system", "")))
    kind = outcome.get("outcome")
    if kind == "erased":
        return _("• {system}: your data was deleted.").format(system=system)
    if kind == "no_match":
        return _("• {system}: it held no data about you.").format(system=system)
    if kind == "retained":
        until = str(outcome.get("retained_until") or "")
        try:
            until = long_date(date.fromisoformat(until))
        except ValueError:
            until = escape(until)
        return _("• {system}: kept until {date} (legal basis: {basis}).").format(
            system=system, date=until, basis=escape(str(outcome.get("legal_basis") or ""))
        )
    return f"• {system}: {escape(str(kind))}"


def export_by_link(
    request: PrivacyRequest, shop: Shop | None, url: str, expires_at: datetime
) -> str:
    ready = _("{shop} has completed your request: the copy of your data is ready.").format(
        shop=shop_name(request, shop)
    )
    link = _(
        "Download it with this link. It works only once, until {moment}; do not pass it on:"
    ).format(moment=date_and_time(expires_at))
    return framed(request, shop, ready, link + "\n" + escape(url))


def export_in_chat(request: PrivacyRequest, shop: Shop | None) -> str:
    """The caption of the export sent as a file (at most 1024 characters: short)."""
    here = _("{shop} has completed your request: here is the copy of your data.")
    return framed(request, shop, here.format(shop=shop_name(request, shop)))


def export_gone(request: PrivacyRequest, shop: Shop | None) -> str:
    text = _(
        "{shop} has completed your request, but the copy of your data is no longer available "
        "here. Please write to {email}."
    )
    shop_text = shop_name(request, shop)
    return framed(request, shop, text.format(shop=shop_text, email=contact(request, shop)))


def shown_length(html_text: str) -> int:
    """How long Telegram counts `html_text`: its text without tags and escapes."""
    return len(unescape(TAG.sub("", html_text)))


def chunks(text: str, limit: int = TELEGRAM_LIMIT) -> Iterator[str]:
    """`text` in messages of at most `limit` characters. Only a deletion's many outcomes
    grow that long; they are cut between lines, where no tag is open."""
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if current and shown_length(candidate) > limit:
            yield current
            candidate = line
        current = candidate
    if current:
        yield current
