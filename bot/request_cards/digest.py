"""The daily digest in each support group: the privacy requests overdue and those due within
a week, most urgent first, each with its card's buttons.

It goes out when the digest hour (UTC) passes while a process runs: a process that starts
after the hour sends that day's digest no more, so a restart never sends it twice. With
several processes on PostgreSQL only the one holding the lead sends it
(`backend.request_cards.DigestLeadership`); on SQLite each process would, so a deployment
on SQLite runs one bot process. A day on which no process ran at the hour has no digest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from html import escape
from typing import Final

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError
from aiogram.types import InlineKeyboardMarkup

from backend.models import PrivacyRequest, utc_now
from backend.request_cards import DigestLeadership, digest_requests, split_by_deadline
from bot.request_cards.board import NO_PREVIEW
from bot.request_cards.cards import card_buttons
from bot.request_cards.groups import support_groups
from bot.request_cards.texts import day, kind_label, request_ref, status_label
from bot.services import Services

log = logging.getLogger("bot.request_cards")

# Requests per message: four buttons each stay far below Telegram's hundred per message.
PER_MESSAGE: Final = 10


def digest_moment(now: datetime, hour: int) -> datetime:
    """Today's digest time (UTC)."""
    return now.replace(hour=hour, minute=0, second=0, microsecond=0)


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


def _line(number: int, request: PrivacyRequest, now: datetime) -> str:
    assert request.deadline is not None  # a working request has its deadline
    days_left = (request.deadline.date() - now.date()).days
    if request.deadline < now:
        when = f"⚠️ <b>overdue</b> since {day(request.deadline)}"
        if days_left < 0:
            when += f" ({_days(-days_left)})"
    elif days_left == 0:
        when = f"due <b>today</b> ({day(request.deadline)})"
    else:
        when = f"due {day(request.deadline)} (in {_days(days_left)})"
    return (
        f"{number}. {when} · {escape(kind_label(request.kind))} · {request_ref(request.id)} · "
        f"{escape(status_label(request.status))}"
    )


def render_digest(
    requests: Sequence[PrivacyRequest], now: datetime, *, within_days: int
) -> list[tuple[str, InlineKeyboardMarkup]]:
    """The digest's messages: a heading, then numbered lines; the buttons of each request
    carry its number."""
    overdue, due_soon = split_by_deadline(requests, now)
    heading = (
        f"📋 <b>Privacy requests, {day(now)}</b>\n"
        f"Overdue: {len(overdue)} · due within {within_days} days: {len(due_soon)}"
    )
    ordered = [*overdue, *due_soon]
    messages: list[tuple[str, InlineKeyboardMarkup]] = []
    for start in range(0, len(ordered), PER_MESSAGE):
        page = ordered[start : start + PER_MESSAGE]
        numbers = range(start + 1, start + len(page) + 1)
        lines = [_line(number, request, now) for number, request in zip(numbers, page, strict=True)]
        rows = [
            buttons
            for number, request in zip(numbers, page, strict=True)
            if (buttons := card_buttons(request, prefix=f"{number}. "))
        ]
        text = "\n".join([heading, "", *lines]) if start == 0 else "\n".join(lines)
        messages.append((text, InlineKeyboardMarkup(inline_keyboard=rows)))
    return messages


class DigestSender:
    def __init__(
        self,
        bot: Bot,
        services: Services,
        *,
        hour: int,
        within: timedelta,
        clock: Callable[[], datetime] = utc_now,
        leadership: DigestLeadership | None = None,
    ) -> None:
        self._bot = bot
        self._services = services
        self._hour = hour
        self._within = within
        self._clock = clock
        self._leadership = leadership or DigestLeadership(services.database)
        self._last_look: datetime | None = None

    async def run_once(self) -> int:
        """Send the digests if the digest hour passed since the last look; how many
        messages went out."""
        now = self._clock()
        previous, self._last_look = self._last_look, now
        if previous is None or not previous < digest_moment(now, self._hour) <= now:
            return 0
        if not await self._leadership.leads():
            return 0
        sent = 0
        for shop_id, group in support_groups(self._services.shops).items():
            try:
                sent += await self._send(shop_id, group, now)
            except TelegramAPIError as error:
                log.warning("digest not sent to %s: %s", group, type(error).__name__)
        return sent

    async def _send(self, shop_id: str, group: int, now: datetime) -> int:
        async with self._services.database.session() as session:
            requests = await digest_requests(session, shop_id, now=now, within=self._within)
        if not requests:
            return 0
        messages = render_digest(requests, now, within_days=self._within.days)
        for text, markup in messages:
            await self._bot.send_message(
                group,
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=NO_PREVIEW,
            )
        return len(messages)

    async def close(self) -> None:
        await self._leadership.release()
