"""Queuing calls into a support group (sent, paced, by `bot.handoff.sender`).

A queued call is a Bot API method and a payload:

- ``params``: the method's parameters, as JSON;
- ``pair``: after it was sent, pair the new message with a message of the customer's chat
  (``{"direction": ..., "customer_message_id": ...}``), so that edits and replies find it;
- ``reply_to`` / ``edit_of``: a message of the customer's chat whose counterpart in the
  topic is looked up when the call goes out (it may itself still be queued when this call
  is queued; by then it was sent, since a group's calls go in order);
- ``topic_name``: the customer's topic name, should the topic have to be re-created.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.handoffs import Direction, enqueue_group_call
from backend.models import Handoff
from bot.services import Services


async def queue_call(
    session: AsyncSession,
    method: str,
    params: dict[str, Any],
    *,
    handoff_id: int | None = None,
    pair: tuple[Direction, int] | None = None,
    reply_to: int | None = None,
    edit_of: int | None = None,
    topic_name: str | None = None,
) -> None:
    payload: dict[str, Any] = {"params": params}
    if pair is not None:
        payload["pair"] = {"direction": pair[0], "customer_message_id": pair[1]}
    if reply_to is not None:
        payload["reply_to"] = reply_to
    if edit_of is not None:
        payload["edit_of"] = edit_of
    if topic_name is not None:
        payload["topic_name"] = topic_name
    await enqueue_group_call(
        session,
        group_chat_id=int(params["chat_id"]),
        method=method,
        payload=payload,
        handoff_id=handoff_id,
    )


async def queue_text(
    session: AsyncSession,
    group_chat_id: int,
    text: str,
    *,
    topic_id: int | None = None,
    handoff_id: int | None = None,
    answering: int | None = None,
    pair: tuple[Direction, int] | None = None,
) -> None:
    """A message of the bot into the group (HTML; escape what people typed), in a topic,
    as a reply to the message `answering` of the group when given."""
    params: dict[str, Any] = {
        "chat_id": group_chat_id,
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    if topic_id is not None:
        params["message_thread_id"] = topic_id
    if answering is not None:
        params["reply_parameters"] = {"message_id": answering, "allow_sending_without_reply": True}
    await queue_call(session, "sendMessage", params, handoff_id=handoff_id, pair=pair)


async def post_in_group(
    services: Services,
    group_chat_id: int,
    text: str,
    *,
    topic_id: int | None = None,
    handoff_id: int | None = None,
    answering: int | None = None,
) -> None:
    """`queue_text` in a unit of work of its own, and the sender woken for it."""
    async with services.database.session() as session:
        await queue_text(
            session,
            group_chat_id,
            text,
            topic_id=topic_id,
            handoff_id=handoff_id,
            answering=answering,
        )
    services.handoff.ring()


async def queue_note(
    session: AsyncSession,
    handoff: Handoff,
    text: str,
    *,
    answering: int | None = None,
    pair: tuple[Direction, int] | None = None,
) -> None:
    """A message of the bot into the hand-off's topic, for the operators."""
    if handoff.group_chat_id is None:
        return
    await queue_text(
        session,
        handoff.group_chat_id,
        text,
        topic_id=handoff.topic_id,
        handoff_id=handoff.id,
        answering=answering,
        pair=pair,
    )


async def post_note(
    services: Services, handoff: Handoff, text: str, *, answering: int | None = None
) -> None:
    """`queue_note` in a unit of work of its own, and the sender woken for it."""
    async with services.database.session() as session:
        await queue_note(session, handoff, text, answering=answering)
    services.handoff.ring()


async def queue_reopening(session: AsyncSession, group_chat_id: int, topic_id: int) -> None:
    """Reopen the customer's topic before a new conversation is said in it (queued with
    the messages, so it comes first), should an operator have closed it meanwhile. An
    open topic stays as it is; the bot never closes one itself: notes after the end (the
    rating, its comment) go into it, and a closed topic would refuse them."""
    await queue_call(
        session, "reopenForumTopic", {"chat_id": group_chat_id, "message_thread_id": topic_id}
    )
