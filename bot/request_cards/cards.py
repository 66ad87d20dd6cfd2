"""A request's card: what staff need to work it (kind, customer's language, id, deadline,
status, the customer's e-mail address while it is open, and what the policy says), and the
buttons for the steps its status allows. Telegram HTML; whatever anyone typed is escaped.

The address is what the staff find the customer's data by; it is shown under a spoiler and
only while the request is open: the card of a closed request no longer carries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any, Final

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from backend.models import DEADLINE_RUNS_IN, PrivacyRequest
from backend.privacy_requests.deadlines import MAX_EXTENSION_MONTHS
from backend.privacy_requests.lifecycle import TRANSITIONS
from backend.privacy_requests.sealing import SealBrokenError, unseal
from bot.keyboards import CardCallback
from bot.request_cards.policy import PolicyQuote, policy_quote
from bot.request_cards.texts import (
    DENIAL_LABELS,
    day,
    kind_label,
    language_label,
    months,
    request_ref,
    shortened,
    status_label,
)
from bot.services import Services

# What a card shows of what staff typed, so that it stays far below Telegram's 4096.
REASON_CHARS: Final = 300
SYSTEM_CHARS: Final = 40
BASIS_CHARS: Final = 100
SHOWN_OUTCOMES: Final = 10


@dataclass(frozen=True)
class CardView:
    text: str
    markup: InlineKeyboardMarkup | None

    def fingerprint(self) -> str:
        """What the card shows, to tell whether an edit would change anything."""
        markup = self.markup.model_dump_json(exclude_none=True) if self.markup else ""
        return self.text + "\x1f" + markup


def extension_left(request: PrivacyRequest) -> int:
    return MAX_EXTENSION_MONTHS - request.extension_months


def card_buttons(request: PrivacyRequest, prefix: str = "") -> list[InlineKeyboardButton]:
    """The steps the request's status allows now; none once it is closed."""

    def button(text: str, action: str) -> InlineKeyboardButton:
        data = CardCallback(action=action, request=request.id).pack()
        return InlineKeyboardButton(text=prefix + text, callback_data=data)

    onward = TRANSITIONS.get(request.status, frozenset())
    buttons: list[InlineKeyboardButton] = []
    if "in_progress" in onward:
        buttons.append(button("▶️ Start", "start"))
    if request.status in DEADLINE_RUNS_IN and extension_left(request) > 0:
        buttons.append(button("⏳ Extend", "extend"))
    if "completed" in onward:
        buttons.append(button("✅ Complete", "complete"))
    if "denied" in onward:
        buttons.append(button("✖️ Deny", "deny"))
    return buttons


def card_markup(request: PrivacyRequest) -> InlineKeyboardMarkup | None:
    buttons = card_buttons(request)
    return InlineKeyboardMarkup(inline_keyboard=[buttons]) if buttons else None


def render_card(
    request: PrivacyRequest, shop_name: str, *, quote: PolicyQuote | None, email: str | None
) -> str:
    lines = [
        f"🔐 <b>Privacy request · {escape(kind_label(request.kind))}</b>",
        f"{escape(shop_name)} · {request_ref(request.id)}",
        "",
        f"Status: <b>{escape(status_label(request.status))}</b>",
        *_deadline_lines(request),
        f"Customer's language: {escape(language_label(request.language))}",
    ]
    if email and request.status in DEADLINE_RUNS_IN:
        lines.append(f"Customer's e-mail: <tg-spoiler>{escape(email)}</tg-spoiler>")
    verified_by = "the shop" if request.verification == "shop" else "an e-mailed code"
    lines.append(f"Identity confirmed by: {verified_by}")
    lines += _outcome_lines(request.outcomes or [])
    if request.status == "denied" and request.denial_reason_code:
        label = DENIAL_LABELS.get(request.denial_reason_code, request.denial_reason_code)
        lines.append(f"Denied: {escape(label)}")
        if request.denial_reason_text:
            reason = shortened(request.denial_reason_text, REASON_CHARS)
            lines.append(f"<i>{escape(reason)}</i>")
    lines += ["", *_policy_lines(quote)]
    return "\n".join(lines)


def _deadline_lines(request: PrivacyRequest) -> list[str]:
    if request.closed_at is not None:
        return [f"Closed: {day(request.closed_at)}"]
    if request.deadline is None:
        return []
    lines = [f"Due: <b>{day(request.deadline)}</b>"]
    if request.extension_months and request.due_at is not None:
        lines[0] += f" (extended by {months(request.extension_months)} from {day(request.due_at)})"
        if request.extension_reason:
            reason = shortened(request.extension_reason, REASON_CHARS)
            lines.append(f"Why extended: <i>{escape(reason)}</i>")
    if request.paused_since is not None:
        lines.append(f"Paused since {day(request.paused_since)}: waiting for the customer")
    return lines


def _outcome_lines(outcomes: list[dict[str, Any]]) -> list[str]:
    if not outcomes:
        return []
    lines = ["Outcomes per system:"]
    for entry in outcomes[:SHOWN_OUTCOMES]:
        said = str(entry.get("outcome", ""))
        if said == "retained":
            basis = shortened(str(entry.get("legal_basis", "")), BASIS_CHARS)
            said = f"retained until {entry.get('retained_until')} because {basis}"
        system = shortened(str(entry.get("system", "")), SYSTEM_CHARS)
        lines.append(f"• {escape(system)}: {escape(said)}")
    if len(outcomes) > SHOWN_OUTCOMES:
        lines.append(f"• … and {len(outcomes) - SHOWN_OUTCOMES} more")
    return lines


def _policy_lines(quote: PolicyQuote | None) -> list[str]:
    if quote is None:
        return [
            "<b>What the policy says:</b> nothing on this; the GDPR gives the right all the same."
        ]
    return [
        f"<b>What the policy says</b> · <i>{escape(quote.section)}</i>",
        f"<blockquote>{escape(quote.text)}</blockquote>",
    ]


def customer_email(services: Services, request: PrivacyRequest) -> str | None:
    if not request.email_sealed:
        return None
    try:
        return unseal(services.request_rules.server_key, request.id, request.email_sealed)
    except SealBrokenError:
        return None  # sealed under another key: the address is simply not available


async def card_view(services: Services, request: PrivacyRequest) -> CardView:
    """The card of `request` as it stands (the policy quote from the serving index)."""
    shop = services.shops.resolve(request.shop_id)
    quote = await policy_quote(services.engine, request.shop_id, request.kind)
    text = render_card(
        request,
        shop.name if shop else request.shop_id,
        quote=quote,
        email=customer_email(services, request),
    )
    return CardView(text, card_markup(request))
