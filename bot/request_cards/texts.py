"""The words the cards use for kinds, statuses and reasons: for the shop's staff, in
English, independent of any customer's locale (a card is posted by a background task,
outside every update's gettext context)."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Final

from bot.keyboards import LANGUAGE_NAMES

KIND_LABELS: Final = {
    "unsubscribe": "Unsubscribe from marketing",
    "access": "Access (a copy of the customer's data)",
    "deletion": "Deletion of the customer's data",
}
STATUS_LABELS: Final = {
    "identity_pending": "waiting for the customer's identity",
    "verified": "verified, nobody works on it yet",
    "in_progress": "in progress",
    "completed": "completed",
    "denied": "denied",
    "canceled": "canceled",
    "expired": "expired",
}
DENIAL_LABELS: Final = {
    "identity_not_verified": "Identity not verified",
    "no_customer_match": "No such customer",
    "legal_retention": "Legal duty to keep the data",
    "manifestly_excessive": "Manifestly unfounded or excessive",
    "other": "Other",
}
OUTCOME_FORMAT: Final = (
    "system: erased\n"
    "system: no_match\n"
    "system: retained until YYYY-MM-DD because &lt;legal basis&gt;\n"
    "system: failed"
)


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def language_label(code: str | None) -> str:
    if not code:
        return "not known (the shop created the request)"
    name = LANGUAGE_NAMES.get(code)
    return f"{name} ({code})" if name else code


def day(moment: datetime) -> str:
    """A date as staff read it in any locale: ISO 8601 (deadlines are UTC)."""
    return moment.date().isoformat()


def months(count: int) -> str:
    return f"{count} month" if count == 1 else f"{count} months"


def request_ref(request_id: str) -> str:
    return f"<code>{escape(request_id)}</code>"


def shortened(text: str, limit: int) -> str:
    """`text` cut at a word to at most `limit` characters (what a card shows of a reason)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"


def mention(user_id: int, name: str) -> str:
    return f'<a href="tg://user?id={user_id}">{escape(name)}</a>'
