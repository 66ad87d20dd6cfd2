"""What operators read in the support group, in English (the staff's working language).

Everything a customer or an operator typed is escaped: these go out as HTML.
"""

from __future__ import annotations

from html import escape

from aiogram.types import User

from backend.models import CannedReply

NOT_A_SUPPORT_GROUP = "This command works only in a shop's support group."
NOT_A_HANDOFF_TOPIC = "This topic belongs to no open hand-off: nothing was changed."
NOT_A_CUSTOMER_TOPIC = "This topic belongs to no customer: use the command in a customer's topic."
NOT_STAFF = "Only the shop's staff can do this."
ALREADY_WITH_PERSON = "The customer is already talking to a person here."
CUSTOMER_UNREACHABLE = "The customer cannot be reached from here until they write to the bot again."
NOT_SENT_CLOSED = "Not sent: this conversation is closed. /takeover opens it again."
NOT_SENT_NOT_STAFF = "Not sent to the customer: only the shop's staff talk to customers."
SEVERAL_SHOPS = "This group serves several shops: use /canned in a customer's topic."
CANNED_USAGE = (
    "Canned replies:\n"
    "/canned add KEY TEXT — save (or replace) a reply\n"
    "/canned add KEY@cs TEXT — its Czech version (any two-letter language)\n"
    "/canned KEY — send it to the customer of this topic, in their language if saved\n"
    "/canned list — all replies\n"
    "/canned del KEY (or KEY@cs) — delete it (or one language)"
)


def person(user: User | None) -> str:
    if user is None:
        return "an operator"
    name = " ".join(part for part in (user.first_name, user.last_name) if part)
    return escape(f"{name} (@{user.username})" if user.username else name)


def closed_note(by: User | None) -> str:
    return f"✅ Closed by {person(by)}. The bot answers this customer again."


def closed_idle_note(minutes: float) -> str:
    return f"💤 Closed after {minutes:g} minutes without a message. The bot answers again."


def taken_over_note(by: User | None) -> str:
    return f"🙋 {person(by)} took the conversation over: the customer has been told."


def rating_note(stars: int) -> str:
    return f"⭐ The customer rated the conversation {stars}/5: {'★' * stars}{'☆' * (5 - stars)}"


def comment_note(comment: str) -> str:
    return f"💬 The customer's comment: {escape(comment)}"


def not_delivered_note(reason: str) -> str:
    return f"⚠️ Not delivered to the customer: {escape(reason)}"


def topic_recreated_note() -> str:
    return "♻️ The earlier topic of this customer was deleted; the conversation goes on here."


def canned_saved(key: str, language: str) -> str:
    return f"Saved canned reply «{escape(key)}»" + (f" ({language})." if language else ".")


def canned_deleted(key: str, count: int) -> str:
    if not count:
        return f"There is no canned reply «{escape(key)}»."
    return f"Deleted canned reply «{escape(key)}» ({count} version{'s' if count > 1 else ''})."


def canned_missing(key: str) -> str:
    return f"There is no canned reply «{escape(key)}». /canned list shows them."


def canned_sent(key: str, language: str, text: str) -> str:
    version = language or "default"
    return f"📎 Sent canned reply «{escape(key)}» ({version}):\n{escape(text)}"


def canned_list(replies: list[CannedReply]) -> str:
    if not replies:
        return "No canned replies yet. " + CANNED_USAGE
    lines = ["Canned replies:"]
    for reply in replies:
        label = f"{reply.key}@{reply.language}" if reply.language else reply.key
        preview = reply.text if len(reply.text) <= 60 else reply.text[:59] + "…"
        lines.append(f"• {escape(label)} — {escape(preview)}")
    return "\n".join(lines)


def canned_invalid(reason: str) -> str:
    return f"Not saved: {escape(reason)}.\n\n{CANNED_USAGE}"


# Why a person was asked for, as the card says it.
ASKED_BY_CUSTOMER = "the customer asked for a person"
ASKED_AFTER_NOT_HELPFUL = "the customer found an answer the bot was unsure of not helpful"
ASKED_AFTER_REPEAT = "the customer asked the bot the same question twice"


def continued_reason(trigger: str) -> str:
    return f"the conversation goes on (the hand-off was asked for by the {trigger})"
