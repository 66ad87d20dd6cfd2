"""The card that opens a customer's topic: what an operator needs before answering.

The customer's language, their last questions with what the bot answered and how sure it
was, and their privacy requests still open with the due dates. Never their Telegram id:
the topic's name is all the group learns of who they are.
"""

from __future__ import annotations

from html import escape

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.handoffs import open_requests, recent_questions
from backend.models import ConversationRecord, Handoff, PrivacyRequest
from bot.keyboards import LANGUAGE_NAMES
from bot.services import Services
from indexer.retriever import Retriever
from indexer.shops import Shop

QUESTION_CHARS = 300
EXCERPT_CHARS = 200
REQUEST_KINDS = {
    "unsubscribe": "Unsubscribe from marketing",
    "access": "Access (a copy of their data)",
    "deletion": "Deletion",
}
HOW_TO = (
    "Reply in this topic: every message goes to the customer. A message that starts "
    "with ! stays here as a note. /close hands the conversation back to the bot; "
    "/canned KEY sends a canned reply."
)


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def passage_excerpt(retriever: Retriever, shop_id: str, key: str | None) -> str | None:
    """The start of the passage the bot quoted, if the serving index still has it."""
    if not key:
        return None
    try:
        passages = retriever.section_passages(shop_id, key)
    except KeyError:  # a shop the serving index no longer has
        return None
    found = next((p for p in passages if p.key == key), None)
    return _cut(found.text, EXCERPT_CHARS) if found else None


def _question_lines(
    number: int, record: ConversationRecord, retriever: Retriever | None
) -> list[str]:
    lines = [f"{number}. <i>{escape(_cut(record.question, QUESTION_CHARS))}</i>"]
    verdict = {"helpful": " · 👍 helpful", "not_helpful": " · 👎 not helpful"}.get(
        record.feedback or "", ""
    )
    confidence = f"confidence {record.confidence:.2f}"
    if record.answered:
        section = escape(record.section or "a passage")
        lines.append(f"   → answered from «{section}» — {confidence}{verdict}")
        excerpt = (
            passage_excerpt(retriever, record.shop_id, record.passage_key) if retriever else None
        )
        if excerpt:
            lines.append(f"   “{escape(excerpt)}”")
    else:
        lines.append(f"   → not answered: the policy did not say — {confidence}{verdict}")
    return lines


def _request_line(request: PrivacyRequest) -> str:
    kind = REQUEST_KINDS.get(request.kind, request.kind)
    due = request.deadline
    when = f", due {due:%Y-%m-%d}" if due else ", not verified yet"
    return f"• {escape(kind)} <code>{escape(request.id)}</code>: {escape(request.status)}{when}"


def language_label(code: str) -> str:
    name = LANGUAGE_NAMES.get(code)
    return f"{name} ({code})" if name else code


async def render_card(
    session: AsyncSession, services: Services, handoff: Handoff, shop: Shop, reason: str
) -> str:
    """The card of `handoff`, as HTML; `reason` says why a person was asked for. Read in
    the caller's session (SQLite has one connection: a second session would wait for it)."""
    records = await recent_questions(
        session, handoff.pseudonym, shop.id, services.handoff.settings.card_questions
    )
    requests = await open_requests(session, handoff.pseudonym, shop.id)
    retriever = services.engine.retriever
    lines = [
        f"🙋 <b>Hand-off #{handoff.id}</b> · {escape(shop.name)}",
        f"Why: {escape(reason)}",
        f"Language: {escape(language_label(handoff.language))}",
        "",
        "<b>Last questions to the bot</b>",
    ]
    if records:
        for number, record in enumerate(records, 1):
            lines.extend(_question_lines(number, record, retriever))
    else:
        lines.append("none")
    lines += ["", "<b>Open privacy requests</b>"]
    lines.extend([_request_line(request) for request in requests] or ["none"])
    lines += ["", escape(HOW_TO)]
    return "\n".join(lines)
