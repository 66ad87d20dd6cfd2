"""The queue into support groups against the fake Bot API, with an injected clock: every
call delivered, in order, paced per group, 429s honoured, a call never sent twice by two
senders; and a customer's topic created once when two processes race for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from aiogram import Bot

from backend.database import Database
from backend.handoffs import claim_topic, enqueue_group_call, queued_calls, topic_of
from backend.models import SupportTopic
from bot.handoff.pacing import GroupPacer
from bot.handoff.sender import SentCall, SupportGroupSender
from bot.handoff.topics import ensure_topic, recreate_topic, topic_name
from tests.support.fake_bot_api import FakeBotAPI

GROUP, OTHER_GROUP = -1002000000001, -1002000000002
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class FakeClock:
    """Time that moves only when the sender sleeps: pacing decisions without waiting."""

    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


@dataclass
class Line:
    fake: FakeBotAPI
    bot: Bot
    db: Database
    clock: FakeClock

    def sender(self, per_minute: int = 20, min_gap: float = 1.0) -> SupportGroupSender:
        return SupportGroupSender(
            self.bot,
            self.db,
            GroupPacer(per_minute, min_gap),
            clock=self.clock,
            sleep=self.clock.sleep,
        )

    async def queue(self, group: int, *texts: str, thread: int | None = None) -> None:
        async with self.db.session() as session:
            for text in texts:
                params: dict[str, object] = {"chat_id": group, "text": text}
                if thread is not None:
                    params["message_thread_id"] = thread
                await enqueue_group_call(
                    session,
                    group_chat_id=group,
                    method="sendMessage",
                    payload={"params": params},
                    now=self.clock.now,
                )

    def texts_in(self, group: int) -> list[str]:
        return [
            str(call.params["text"])
            for call in self.fake.calls_to("sendMessage")
            if call.params["chat_id"] == group and call.ok
        ]


@pytest.fixture
async def line(tmp_path: Path) -> AsyncIterator[Line]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'outbox.sqlite3'}")
    await db.migrate()
    async with FakeBotAPI() as fake:
        bot = fake.make_bot()
        try:
            yield Line(fake, bot, db, FakeClock())
        finally:
            await bot.session.close()
            await db.dispose()


def sent_within_a_minute(sent: list[SentCall], group: int) -> int:
    """The most calls into `group` in any one minute."""
    times = [call.at for call in sent if call.group_chat_id == group]
    return max(
        (
            sum(1 for other in times if start <= other < start + timedelta(minutes=1))
            for start in times
        ),
        default=0,
    )


async def test_25_messages_into_one_group_arrive_in_order_and_paced(line: Line) -> None:
    numbered = [f"message {n}" for n in range(1, 26)]
    await line.queue(GROUP, *numbered)
    await line.queue(OTHER_GROUP, "elsewhere 1", "elsewhere 2")
    sender = line.sender(per_minute=20, min_gap=1.0)
    await sender.drain()

    assert line.texts_in(GROUP) == numbered
    assert line.texts_in(OTHER_GROUP) == ["elsewhere 1", "elsewhere 2"]
    sent = list(sender.sent)
    assert sent_within_a_minute(sent, GROUP) == 20
    into_group = [call.at for call in sent if call.group_chat_id == GROUP]
    gaps = [(b - a).total_seconds() for a, b in pairwise(into_group)]
    assert min(gaps) >= 1.0
    # The 21st waited for the first to leave the window: a minute after it, not before.
    assert into_group[20] - into_group[0] >= timedelta(minutes=1)
    # The other group was not held up behind the busy one.
    other = [call.at for call in sent if call.group_chat_id == OTHER_GROUP]
    assert other[0] == T0
    async with line.db.session() as session:
        assert await queued_calls(session) == []


def test_the_pacer_decides_from_the_times_alone() -> None:
    pacer = GroupPacer(per_minute=3, min_gap_seconds=2.0)
    assert pacer.wait(GROUP, T0) == 0.0
    for second in (0, 2, 4):
        pacer.record(GROUP, T0 + timedelta(seconds=second))
    assert pacer.wait(GROUP, T0 + timedelta(seconds=5)) == 55.0  # the window is full
    assert pacer.wait(GROUP, T0 + timedelta(seconds=60)) == 0.0
    assert pacer.wait(OTHER_GROUP, T0) == 0.0
    pacer.record(GROUP, T0 + timedelta(seconds=60))
    assert pacer.wait(GROUP, T0 + timedelta(seconds=61)) == 1.0  # the gap


async def test_a_429_is_retried_after_its_retry_after_and_nothing_is_lost(line: Line) -> None:
    await line.queue(GROUP, "first", "second", "third")
    line.fake.fail_next("sendMessage", retry_after=7, times=2)
    sender = line.sender(per_minute=60, min_gap=0.0)
    await sender.drain()

    assert line.texts_in(GROUP) == ["first", "second", "third"]
    refused = [c for c in line.fake.calls_to("sendMessage") if c.status == 429]
    assert len(refused) == 2
    first = next(call for call in sender.sent if call.group_chat_id == GROUP)
    assert first.at == T0 + timedelta(seconds=14)  # two waits of retry_after


async def test_two_senders_never_send_the_same_call(line: Line) -> None:
    numbered = [f"message {n}" for n in range(1, 13)]
    await line.queue(GROUP, *numbered)
    one, two = line.sender(per_minute=1000, min_gap=0.0), line.sender(1000, 0.0)
    await asyncio.gather(one.drain(), two.drain())
    assert line.texts_in(GROUP) == numbered
    assert len(one.sent) + len(two.sent) == len(numbered)


async def test_a_refused_call_is_dropped_and_the_queue_goes_on(line: Line) -> None:
    await line.queue(GROUP, "<b>unbalanced", "fine")
    async with line.db.session() as session:  # an HTML error Telegram will never accept
        [bad, _] = await queued_calls(session, GROUP)
        bad.payload = {"params": {**bad.payload["params"], "parse_mode": "HTML"}}
        session.add(bad)
    await line.sender(per_minute=60, min_gap=0.0).drain()
    assert line.texts_in(GROUP) == ["fine"]


async def test_a_call_into_a_deleted_topic_goes_to_a_new_one(line: Line) -> None:
    created = await line.bot.create_forum_topic(chat_id=GROUP, name="Ann · Online Store · en")
    old = created.message_thread_id
    async with line.db.session() as session:
        await claim_topic(session, "webstore", "p-ann", group_chat_id=GROUP, topic_id=old)
    line.fake.forget_topic(GROUP, old)
    await line.queue(GROUP, "hello again", thread=old)
    await line.sender(per_minute=60, min_gap=0.0).drain()

    [again] = [
        c for c in line.fake.calls_to("sendMessage") if c.ok and c.params["text"] == "hello again"
    ]
    new = again.params["message_thread_id"]
    assert new != old
    assert line.fake.topic(GROUP, new) is not None
    async with line.db.session() as session:
        topic = await topic_of(session, "webstore", "p-ann")
    assert topic is not None and topic.topic_id == new
    notes = [c for c in line.fake.calls_to("sendMessage") if c.ok and "deleted" in c.params["text"]]
    assert [note.params["message_thread_id"] for note in notes] == [new]


async def test_two_processes_creating_a_customers_topic_keep_one(line: Line) -> None:
    name = topic_name(None, "Online Store", "en")

    async def process() -> tuple[SupportTopic, bool]:
        # No shared lock between "processes": only the primary key decides.
        return await ensure_topic(
            line.bot, line.db, "webstore", "p-bob", group_chat_id=GROUP, name=name
        )

    results = await asyncio.gather(process(), process())
    assert sorted(created for _, created in results) == [False, True]
    assert len({topic.topic_id for topic, _ in results}) == 1
    kept = results[0][0].topic_id
    created_ids = [c.result["message_thread_id"] for c in line.fake.calls_to("createForumTopic")]
    assert len(created_ids) == 2
    [deleted] = [c.params["message_thread_id"] for c in line.fake.calls_to("deleteForumTopic")]
    assert deleted != kept and set(created_ids) == {deleted, kept}
    assert line.fake.topic(GROUP, kept) is not None and line.fake.topic(GROUP, deleted) is None


async def test_recreating_twice_at_once_keeps_one_new_topic(line: Line) -> None:
    created = await line.bot.create_forum_topic(chat_id=GROUP, name="Bob · Online Store · en")
    async with line.db.session() as session:
        gone = await claim_topic(
            session, "webstore", "p-bob", group_chat_id=GROUP, topic_id=created.message_thread_id
        )
    first, second = await asyncio.gather(
        recreate_topic(line.bot, line.db, gone, "Bob"),
        recreate_topic(line.bot, line.db, gone, "Bob"),
    )
    assert first.topic_id == second.topic_id != created.message_thread_id
    assert len(line.fake.calls_to("deleteForumTopic")) == 1


def test_topic_names_fit_telegram() -> None:
    assert topic_name(None, "Online Store", "cs") == "Customer · Online Store · cs"
    long = topic_name(None, "S" * 200, "en")
    assert len(long) == 128
