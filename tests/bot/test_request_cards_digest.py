# ruff: noqa: F811  (the fixtures `shared_assistant` and `desk` come by import)
"""The request cards' background side, end to end: the daily digest (due soon and overdue,
with the cards' buttons, once a day), cards following changes made elsewhere (the REST
API's functions, the customer canceling), a card posted later when Telegram refused it,
and the worker's loop. Time moves by setting the injected clock, never by sleeping."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
import pytest_asyncio
from sqlmodel import delete

from backend.models import PrivacyRequest
from backend.privacy_requests import add_months, cancel, get_request, start_work
from backend.request_cards import card_of
from bot.request_cards.settings import CardSettings
from bot.request_cards.worker import RequestCardWorker
from tests.bot.test_request_cards import (  # noqa: F401  (fixtures)
    EMAILS,
    T0,
    Desk,
    button_data,
    card_row,
    current,
    desk,
    edits,
    group_messages,
    labels,
    posted_card,
    press,
    shared_assistant,
    shown,
    shown_card,
    verified,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def no_earlier_requests(desk: Desk) -> None:
    """The digest lists every open request of the shop: none of an earlier test's (this
    module's assistant, and so its database, is its own)."""
    async with desk.assistant.services.database.session() as session:
        await session.exec(delete(PrivacyRequest))


def at(day: datetime, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return day.replace(hour=hour, minute=minute, second=second, microsecond=0)


async def test_the_digest_lists_due_soon_and_overdue_with_buttons_once_a_day(
    desk: Desk,
) -> None:
    due_soon = await verified(desk, "access")
    overdue = await verified(desk, "deletion", now=T0 - timedelta(days=40))
    await verified(desk, "access", deadline_months=3)  # far off
    theirs = await verified(desk, "deletion", shop="klingit")
    await posted_card(desk, due_soon)
    sent_before = len(group_messages(desk))
    assert due_soon.deadline is not None and overdue.deadline is not None
    day = add_months(T0, 1) - timedelta(days=3)
    digest = desk.worker.digest
    desk.clock.now = at(day, 7, 59)
    assert await digest.run_once() == 0  # the hour has not come
    desk.clock.now = at(day, 8, 0, 5)
    assert await digest.run_once() == 2  # one message into each group
    desk.clock.now = at(day, 8, 0, 10)
    assert await digest.run_once() == 0  # once a day
    desk.clock.now = at(day, 18)
    assert await digest.run_once() == 0
    [call] = group_messages(desk)[sent_before:]
    late = (day.date() - overdue.deadline.date()).days
    assert shown(call).splitlines() == [
        f"📋 Privacy requests, {day.date().isoformat()}",
        "Overdue: 1 · due within 7 days: 1",
        "",
        f"1. ⚠️ overdue since {overdue.deadline.date().isoformat()} ({late} days) · "
        f"Deletion of the customer's data · {overdue.id} · verified, nobody works on it yet",
        f"2. due {due_soon.deadline.date().isoformat()} (in 3 days) · "
        f"Access (a copy of the customer's data) · {due_soon.id} · "
        "verified, nobody works on it yet",
    ]
    assert labels(call.result) == [
        "1. ▶️ Start",
        "1. ⏳ Extend",
        "1. ✖️ Deny",
        "2. ▶️ Start",
        "2. ⏳ Extend",
        "2. ✖️ Deny",
    ]
    [other] = group_messages(desk, desk.other_group)[-1:]
    assert theirs.id in shown(other) and due_soon.id not in shown(other)
    # The digest's buttons work like the card's, and the card follows.
    card = await card_row(desk, due_soon.id)
    answer = await press(desk, call.result, "2. ▶️ Start")
    assert answer.params["text"] == "Started. The customer is told."
    [edit] = await edits(desk, 1)
    assert edit.params["message_id"] == card.message_id
    assert (await current(desk, due_soon.id)).status == "in_progress"
    # The next day, the next digest.
    desk.clock.now = at(day + timedelta(days=1), 8, 1)
    assert await digest.run_once() == 2


async def test_no_digest_when_nothing_is_due_and_none_after_a_late_start(desk: Desk) -> None:
    await verified(desk, "access")  # due in a month
    before = len(group_messages(desk))
    desk.clock.now = at(T0, 7, 0)
    assert await desk.worker.digest.run_once() == 0
    desk.clock.now = at(T0, 8, 0)
    assert await desk.worker.digest.run_once() == 0
    # A process started after the hour sends that day's digest no more (a restart
    # never sends it twice).
    late = RequestCardWorker(
        desk.assistant.bot, desk.assistant.services, CardSettings(digest_hour=8), clock=desk.clock
    )
    desk.clock.now = add_months(at(T0, 8, 30), 1) - timedelta(days=1)
    assert await late.digest.run_once() == 0
    desk.clock.now += timedelta(minutes=5)
    assert await late.digest.run_once() == 0
    assert len(group_messages(desk)) == before


async def change(desk: Desk, request: PrivacyRequest, step: str) -> None:
    """A change made elsewhere: the shop's backend starts work, the customer cancels."""
    desk.clock.now += timedelta(minutes=5)
    async with desk.assistant.services.database.session() as session:
        found = await get_request(session, "webstore", request.id)
        if step == "start":
            await start_work(session, found, now=desk.clock.now)
        else:
            await cancel(session, found, actor="customer", now=desk.clock.now)
    desk.clock.now += timedelta(seconds=5)


async def test_cards_follow_changes_made_elsewhere(desk: Desk) -> None:
    request = await verified(desk, "deletion")
    untouched = await verified(desk, "access")
    card = await posted_card(desk, request)
    await posted_card(desk, untouched)
    poster = desk.worker.poster
    await change(desk, request, "start")
    assert await poster.refresh_changed() == 1
    now = shown_card(desk, card)
    assert "Status: in progress" in now["text"]
    assert labels(now) == ["⏳ Extend", "✅ Complete", "✖️ Deny"]
    assert await poster.refresh_changed() == 0  # shown already
    await change(desk, request, "cancel")
    assert await poster.refresh_changed() == 1
    now = shown_card(desk, card)
    assert "Status: canceled" in now["text"]
    assert EMAILS[request.id] not in now["text"]
    assert labels(now) == []
    edited = {call.params["message_id"] for call in await edits(desk, 2)}
    assert edited == {card["message_id"]}
    # A stale button of the closed request: refused with the reason, nothing changes.
    answer = await press(desk, card, "", data=button_data(card, "Start"))
    assert answer.params["show_alert"] is True
    assert "cannot go from 'canceled' to 'in_progress'" in answer.params["text"]
    assert (await current(desk, request.id)).status == "canceled"


async def test_a_card_telegram_refused_is_posted_later(desk: Desk) -> None:
    request = await verified(desk, "access")
    desk.fake.fail_next(
        "sendMessage", error_code=400, description="Bad Request: chat not found", retry_after=None
    )
    poster = desk.worker.poster
    assert await poster.post_new() == 0
    async with desk.assistant.services.database.session() as session:
        assert await card_of(session, request.id) is None
    assert await poster.post_new() == 0  # the group waits a while
    desk.clock.now += timedelta(minutes=6)
    assert await poster.post_new() == 1
    assert (await card_row(desk, request.id)).message_id == group_messages(desk)[-1].result[
        "message_id"
    ]


async def test_the_worker_posts_cards_until_stopped(desk: Desk) -> None:
    request = await verified(desk, "access")
    worker = RequestCardWorker(
        desk.assistant.bot,
        desk.assistant.services,
        CardSettings(poll_seconds=0.05),
        clock=desk.clock,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run_forever(stop))
    await desk.fake.wait_for(
        "sendMessage", predicate=lambda call: call.params["chat_id"] == desk.group
    )
    stop.set()
    await running
    assert (await card_row(desk, request.id)).group_chat_id == desk.group
