"""The sender of the queue into support groups: paced per group, in order, never dropping
a call Telegram could still take.

Each pass looks at the oldest queued call of every group. One that is due, and that the
pacer lets through, is claimed (a lease: another process skips it) and sent; the row is
deleted only after Telegram accepted it. A 429 is retried after its `retry_after`, a
server or network error with back-off, a topic that is gone is re-created and the call
sent there. Only what Telegram refuses for good (the message to copy was deleted, the edit
changes nothing) is dropped, with a log line: retrying it would block the group for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import (
    CopyMessage,
    EditMessageCaption,
    EditMessageText,
    ReopenForumTopic,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import ReplyParameters

from backend.database import Database
from backend.handoffs import (
    claim_item,
    group_side,
    item_sent,
    queue_heads,
    record_relay,
    retry_item,
    topic_at,
)
from backend.models import SupportOutboxItem, SupportTopic, utc_now
from bot.handoff.pacing import GroupPacer
from bot.handoff.staff_texts import topic_recreated_note
from bot.handoff.topics import TopicUnavailableError, is_topic_gone, recreate_topic

log = logging.getLogger("bot.handoff.sender")

GROUP_METHODS: dict[str, type[TelegramMethod[Any]]] = {
    "sendMessage": SendMessage,
    "copyMessage": CopyMessage,
    "editMessageText": EditMessageText,
    "editMessageCaption": EditMessageCaption,
    "reopenForumTopic": ReopenForumTopic,
}
# Telegram's answers that mean "already so": the call did what it was for.
ALREADY_SO = ("topic_not_modified", "message is not modified")
MAX_BACKOFF_SECONDS = 300.0

CardWriter = Callable[[SupportTopic], Awaitable[str | None]]


@dataclass(frozen=True)
class SentCall:
    """A call Telegram accepted, and when by the sender's clock (what the pacing decided)."""

    group_chat_id: int
    method: str
    at: datetime


class SupportGroupSender:
    def __init__(
        self,
        bot: Bot,
        database: Database,
        pacer: GroupPacer,
        *,
        card_for: CardWriter | None = None,
        lease_seconds: float = 60.0,
        poll_seconds: float = 1.0,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        doorbell: asyncio.Event | None = None,
    ) -> None:
        self.bot = bot
        self.database = database
        self.pacer = pacer
        self._card_for = card_for
        self._lease = timedelta(seconds=lease_seconds)
        self._poll = poll_seconds
        self._clock = clock
        self._sleep = sleep
        self._doorbell = doorbell
        self.sent: deque[SentCall] = deque(maxlen=1000)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set: at once while calls are due, else when the pacing,
        the doorbell or the poll interval says. An error is logged and tried again."""
        while not stop.is_set():
            try:
                wake = await self.send_due()
            except Exception:
                log.exception("sending into support groups failed; retrying shortly")
                wake = None
            if wake == 0:
                await asyncio.sleep(0)  # let the handlers run between two sends
                continue
            await self._nap(stop, self._poll if wake is None else min(wake, self._poll))

    async def _nap(self, stop: asyncio.Event, seconds: float) -> None:
        waiters = [asyncio.ensure_future(stop.wait())]
        if self._doorbell is not None:
            waiters.append(asyncio.ensure_future(self._doorbell.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            if self._doorbell is not None:
                self._doorbell.clear()

    async def drain(self, max_passes: int = 100_000) -> None:
        """Send until nothing is queued, sleeping with the injected `sleep` as the pacing
        asks (with a fake clock, in no time)."""
        for _ in range(max_passes):
            wake = await self.send_due()
            if wake is None:
                return
            if wake > 0:
                await self._sleep(wake)
        raise RuntimeError("the queue into the support groups did not drain")

    async def send_due(self) -> float | None:
        """One pass: the head call of each group, if due and the pacing allows. Returns the
        seconds until a call may go next (0: at once), or None when nothing is queued."""
        async with self.database.session() as session:
            heads = await queue_heads(session)
        if not heads:
            return None
        wake = math.inf
        for item in heads:
            now = self._clock()
            wait = max(
                (item.next_attempt_at - now).total_seconds(),
                self.pacer.wait(item.group_chat_id, now),
            )
            if wait > 0:
                wake = min(wake, wait)
                continue
            async with self.database.session() as session:
                claimed = await claim_item(session, item, now=now, lease_until=now + self._lease)
            if not claimed:  # another process took it
                wake = min(wake, self._poll)
                continue
            await self._send(item)
            wake = 0.0
        return wake

    async def _send(self, item: SupportOutboxItem) -> None:
        assert item.id is not None
        try:
            call = await self._prepared(item)
            if call is None:
                await self._forget(item, "what it refers to was never relayed")
                return
            result = await self.bot(call)
        except TelegramRetryAfter as error:
            await self._retry(item, seconds=float(error.retry_after))
        except TelegramBadRequest as error:
            await self._refused(item, error)
        except Exception as error:  # network, 5xx, 403 (the bot removed): try again later
            log.warning("call %s into a support group failed: %s", item.id, type(error).__name__)
            await self._retry(item, seconds=min(MAX_BACKOFF_SECONDS, 2.0 ** min(item.attempts, 9)))
        else:
            await self._accepted(item, result)

    async def _prepared(self, item: SupportOutboxItem) -> TelegramMethod[Any] | None:
        method = GROUP_METHODS.get(item.method)
        if method is None:
            raise ValueError(f"unknown method {item.method!r} in the support outbox")
        payload = item.payload
        params = dict(payload.get("params", {}))
        edit_of, reply_to = payload.get("edit_of"), payload.get("reply_to")
        if (edit_of is not None or reply_to is not None) and item.handoff_id is not None:
            async with self.database.session() as session:
                if edit_of is not None:
                    target = await group_side(session, item.handoff_id, edit_of, "to_group")
                    if target is None:
                        return None
                    params["message_id"] = target
                if reply_to is not None:
                    target = await group_side(session, item.handoff_id, reply_to)
                    if target is not None:
                        params["reply_parameters"] = ReplyParameters(
                            message_id=target, allow_sending_without_reply=True
                        )
        return method.model_validate(params)

    async def _accepted(self, item: SupportOutboxItem, result: Any) -> None:
        assert item.id is not None
        self.pacer.record(item.group_chat_id, self._clock())
        self.sent.append(SentCall(item.group_chat_id, item.method, self._clock()))
        pair = item.payload.get("pair")
        async with self.database.session() as session:
            message_id = getattr(result, "message_id", None)
            if pair and item.handoff_id is not None and message_id is not None:
                await record_relay(
                    session,
                    item.handoff_id,
                    pair["direction"],
                    customer_message_id=int(pair["customer_message_id"]),
                    group_message_id=message_id,
                )
            await item_sent(session, item.id)

    async def _refused(self, item: SupportOutboxItem, error: TelegramBadRequest) -> None:
        message = error.message.lower()
        thread = item.payload.get("params", {}).get("message_thread_id")
        if any(marker in message for marker in ALREADY_SO):
            await self._accepted(item, None)
        elif thread is not None and is_topic_gone(error):
            await self._topic_gone(item, int(thread))
        elif thread is not None and "topic_closed" in message:
            with contextlib.suppress(TelegramAPIError):
                await self.bot.reopen_forum_topic(
                    chat_id=item.group_chat_id, message_thread_id=int(thread)
                )
            await self._retry(item, seconds=0.0)
        else:
            await self._forget(item, error.message)

    async def _topic_gone(self, item: SupportOutboxItem, thread: int) -> None:
        async with self.database.session() as session:
            gone = await topic_at(session, item.group_chat_id, thread)
        if gone is None:
            # Moved meanwhile by another call or process (this call moved with it), or a
            # thread that was never a customer's: then there is nowhere to send it.
            async with self.database.session() as session:
                current = await session.get(SupportOutboxItem, item.id, populate_existing=True)
            if current is not None and current.payload["params"].get("message_thread_id") == thread:
                await self._forget(item, "its topic is gone and belongs to no customer")
            else:
                await self._retry(item, seconds=0.0)
            return
        name = item.payload.get("topic_name") or f"Customer · {gone.shop_id}"
        try:
            topic = await recreate_topic(self.bot, self.database, gone, name)
        except TopicUnavailableError as error:
            log.warning("could not re-create a topic for call %s: %s", item.id, error)
            await self._retry(item, seconds=min(MAX_BACKOFF_SECONDS, 2.0 ** min(item.attempts, 9)))
            return
        card = await self._card_for(topic) if self._card_for is not None else None
        text = topic_recreated_note() + (f"\n\n{card}" if card else "")
        await self._sleep(self.pacer.wait(topic.group_chat_id, self._clock()))
        with contextlib.suppress(TelegramAPIError):
            await self.bot.send_message(
                chat_id=topic.group_chat_id,
                message_thread_id=topic.topic_id,
                text=text,
                parse_mode="HTML",
            )
            self.pacer.record(topic.group_chat_id, self._clock())
        await self._retry(item, seconds=0.0)

    async def _retry(self, item: SupportOutboxItem, *, seconds: float) -> None:
        assert item.id is not None
        async with self.database.session() as session:
            await retry_item(session, item.id, self._clock() + timedelta(seconds=seconds))

    async def _forget(self, item: SupportOutboxItem, reason: str) -> None:
        assert item.id is not None
        # The reason is Telegram's wording or ours, never the message's text.
        log.warning("dropped call %s (%s) into a support group: %s", item.id, item.method, reason)
        async with self.database.session() as session:
            await item_sent(session, item.id)
